// Colour maps against values that follow from their definitions.
#include <gtest/gtest.h>

#include "lrpflow/visual/colormap.h"

namespace lrpflow::visual {
namespace {

Rgb at(const std::string& name, int index) {
  auto lut = colormap(name);
  EXPECT_TRUE(lut) << lut.status().message();
  return lut.value()[index];
}

TEST(Colormap, BwrIsBlueWhiteRed) {
  EXPECT_EQ(at("bwr", 0), (Rgb{0, 0, 255}));
  EXPECT_EQ(at("bwr", 128), (Rgb{255, 255, 255}));  // zero relevance is white
  EXPECT_EQ(at("bwr", 255), (Rgb{255, 0, 0}));
  EXPECT_EQ(at("bwr", 64), (Rgb{127, 127, 255}));    // half way from blue to white, 127.5 truncated
}

TEST(Colormap, ColdnhotIsCentredOnBlack) {
  EXPECT_EQ(at("coldnhot", 0), (Rgb{0, 255, 255}));
  EXPECT_EQ(at("coldnhot", 64), (Rgb{0, 0, 255}));
  EXPECT_EQ(at("coldnhot", 128), (Rgb{0, 0, 0}));
  EXPECT_EQ(at("coldnhot", 170), (Rgb{255, 0, 0}));
  EXPECT_EQ(at("coldnhot", 212), (Rgb{255, 255, 0}));
  EXPECT_EQ(at("coldnhot", 255), (Rgb{255, 255, 255}));
}

TEST(Colormap, SeismicHotGray) {
  EXPECT_EQ(at("seismic", 0), (Rgb{0, 0, 208}));
  EXPECT_EQ(at("seismic", 128), (Rgb{208, 208, 208}));
  EXPECT_EQ(at("seismic", 255), (Rgb{208, 0, 0}));
  EXPECT_EQ(at("hot", 0), (Rgb{0, 0, 0}));
  EXPECT_EQ(at("hot", 85), (Rgb{255, 0, 0}));
  EXPECT_EQ(at("hot", 170), (Rgb{255, 255, 0}));
  for (int i = 0; i < 256; ++i) {
    const auto v = static_cast<std::uint8_t>(i);
    EXPECT_EQ(at("gray", i), (Rgb{v, v, v})) << i;
  }
}

TEST(Colormap, UnknownNameListsTheValidOnes) {
  auto lut = colormap("viridis");
  ASSERT_FALSE(lut);
  EXPECT_NE(lut.status().message().find("bwr"), std::string::npos);
}

}  // namespace
}  // namespace lrpflow::visual
