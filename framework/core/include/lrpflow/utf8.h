// UTF-8 checks for text that comes from untrusted files (ids, layer and class names).
//
// Decoding is Boost.Locale's (header-only boost/locale/utf.hpp); these helpers only say what to do
// with a byte that does not start a valid sequence.
#pragma once

#include <string>
#include <string_view>

namespace lrpflow {

bool is_valid_utf8(std::string_view text);

// `text` with every byte that does not start a valid UTF-8 sequence replaced by `replacement`
// (U+FFFD unless told otherwise).
std::string utf8_with_replacement(std::string_view text, std::string_view replacement = "\xEF\xBF\xBD");

// `text` with every byte that does not start a valid UTF-8 sequence written as `\xNN` (two
// lowercase hex digits): the Latin-1 name "café" (bytes 63 61 66 e9) becomes the text `caf\xe9`.
// Valid UTF-8 that still tells the original bytes apart, for ids and paths that go into JSON and
// HTML; valid text is unchanged.
std::string escape_invalid_utf8(std::string_view text);

}  // namespace lrpflow
