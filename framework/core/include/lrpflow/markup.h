// Escaping text from models, items and options for the markup lrpflow writes (HTML pages, SVG
// plots): no such string reaches a page or a picture unescaped.
#pragma once

#include <string>
#include <string_view>

namespace lrpflow {

// & < > " ' as entities; safe in HTML element text and quoted attributes.
std::string html_escape(std::string_view text);

// Safe inside an SVG (XML 1.0) element or attribute: invalid UTF-8 escaped as \xNN, markup escaped,
// and control characters, which XML does not allow at all, replaced by spaces.
std::string xml_text(std::string_view text);

}  // namespace lrpflow
