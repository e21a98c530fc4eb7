#include "lrpflow/utf8.h"

#include <boost/locale/utf.hpp>
#include <fmt/format.h>

namespace lrpflow {

namespace {

using Utf8 = boost::locale::utf::utf_traits<char>;

// Length of the valid sequence that starts `text`, or 0 when there is none.
size_t valid_sequence_length(std::string_view text) {
  const char* p = text.data();
  const boost::locale::utf::code_point c = Utf8::decode(p, text.data() + text.size());
  if (c == boost::locale::utf::illegal || c == boost::locale::utf::incomplete) return 0;
  return static_cast<size_t>(p - text.data());
}

// `text` with each byte that does not start a valid sequence replaced by what `replace` makes of it.
template <typename Replace>
std::string with_invalid_bytes_replaced(std::string_view text, Replace replace) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t length = valid_sequence_length(text.substr(i));
    if (length == 0) {
      out += replace(static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = valid_sequence_length(text.substr(i));
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string utf8_with_replacement(std::string_view text, std::string_view replacement) {
  return with_invalid_bytes_replaced(text, [replacement](unsigned char) { return replacement; });
}

std::string escape_invalid_utf8(std::string_view text) {
  return with_invalid_bytes_replaced(text, [](unsigned char byte) { return fmt::format("\\x{:02x}", byte); });
}

}  // namespace lrpflow
