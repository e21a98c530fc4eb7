#include "lrpflow/visual/colormap.h"

#include <cmath>
#include <map>

namespace lrpflow::visual {
namespace {

struct Stop {
  int position;  // 0..255
  Rgb color;
};

// Stops as in Zennit's colour-map sources (unindexed inner colours spread evenly, then truncated to
// an integer position, exactly as Zennit places them).
const std::map<std::string, std::vector<Stop>>& stop_table() {
  static const std::map<std::string, std::vector<Stop>> table = {
      {"gray", {{0, {0, 0, 0}}, {255, {255, 255, 255}}}},
      {"hot", {{0, {0, 0, 0}}, {85, {255, 0, 0}}, {170, {255, 255, 0}}, {255, {255, 255, 255}}}},
      {"coldnhot",
       {{0, {0, 255, 255}}, {64, {0, 0, 255}}, {128, {0, 0, 0}}, {170, {255, 0, 0}}, {212, {255, 255, 0}},
        {255, {255, 255, 255}}}},
      {"bwr", {{0, {0, 0, 255}}, {128, {255, 255, 255}}, {255, {255, 0, 0}}}},
      {"seismic", {{0, {0, 0, 208}}, {128, {208, 208, 208}}, {255, {208, 0, 0}}}},
  };
  return table;
}

std::uint8_t lerp(std::uint8_t a, std::uint8_t b, double t) {
  // Truncation, as an 8-bit palette built from float colours does.
  return static_cast<std::uint8_t>(std::floor(a * (1.0 - t) + b * t + 1e-9));
}

}  // namespace

const std::vector<std::string>& colormap_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, stops] : stop_table()) out.push_back(name);
    return out;
  }();
  return names;
}

Result<ColorLut> colormap(const std::string& name) {
  auto it = stop_table().find(name);
  if (it == stop_table().end()) {
    std::string valid;
    for (const auto& n : colormap_names()) valid += (valid.empty() ? "" : ", ") + n;
    return Status::error("unknown colour map '" + name + "' (valid: " + valid + ")");
  }
  const std::vector<Stop>& stops = it->second;
  ColorLut lut;
  size_t segment = 0;
  for (int i = 0; i < 256; ++i) {
    while (segment + 2 < stops.size() && i >= stops[segment + 1].position) ++segment;
    const Stop& lo = stops[segment];
    const Stop& hi = stops[segment + 1];
    const double t = hi.position == lo.position ? 0.0 : double(i - lo.position) / double(hi.position - lo.position);
    lut[i] = {lerp(lo.color.r, hi.color.r, t), lerp(lo.color.g, hi.color.g, t), lerp(lo.color.b, hi.color.b, t)};
  }
  return lut;
}

}  // namespace lrpflow::visual
