// UTF-8 checks for text that comes from untrusted files (ids, layer and class names).
//
// Decoding is Boost.Locale's (header-only boost/locale/utf.hpp); these helpers only say what to do
// with a byte that does not start a valid sequence.
#pragma once

#include <string>
#include <string_view>

namespace lrpflow {

bool is_valid_utf8(std::string_view text);

// `text` with every byte that does not start a valid UTF-8 sequence replaced by U+FFFD.
std::string utf8_with_replacement(std::string_view text);

}  // namespace lrpflow
