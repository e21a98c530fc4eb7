// Colour maps as 256-entry lookup tables.
//
// Each map is a list of colour stops at positions 0..255, linearly interpolated in between (the
// same stops as Zennit's built-in maps of these names, so heatmaps look the same). Diverging maps
// (bwr, coldnhot, seismic) put zero relevance at entry 128.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lrpflow/status.h"

namespace lrpflow::visual {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};

using ColorLut = std::array<Rgb, 256>;

// The names accepted by colormap(): bwr, coldnhot, seismic, hot, gray.
const std::vector<std::string>& colormap_names();

// The lookup table of a named colour map; an error lists the valid names.
Result<ColorLut> colormap(const std::string& name);

}  // namespace lrpflow::visual
