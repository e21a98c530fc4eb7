// File names built from text lrpflow does not control (item ids, layer names, options): every
// name is one component inside the output directory, valid UTF-8, and texts that sanitise alike
// still get names of their own (docs/report.md, "File names").
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "lrpflow/output_layout.h"
#include "lrpflow/utf8.h"

namespace lrpflow {
namespace {
namespace fs = std::filesystem;

const std::vector<std::string> kHostile = {
    "c/../../../../tmp/x", "..", ".", "", "/etc/passwd", "a\\..\\..\\b", "C:evil", "x\ny\rz\tw", std::string("nul\0byte", 8),
    "caf\xe9", "\xff\xfe/..", "\xc3", "\xed\xa0\x80 surrogate", std::string(300, 'a'), std::string(200, '/'),
    std::string(120, 'a') + "\xc3\xa9\xc3\xa9\xc3\xa9",  // cut in the middle of multi-byte characters?
    "\x7f", "../", "./.", "a/b", "a:b", "a_b"};

// One component: nothing that the file system would take as a separator or a way up, nothing
// the manifest (JSON) or the report (HTML) could not carry.
void expect_one_safe_component(const std::string& name, const std::string& from) {
  SCOPED_TRACE("from '" + escape_invalid_utf8(from) + "' -> '" + escape_invalid_utf8(name) + "'");
  EXPECT_FALSE(name.empty());
  EXPECT_NE(name, ".");
  EXPECT_NE(name, "..");
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_EQ(name.find('\\'), std::string::npos);
  EXPECT_EQ(name.find(':'), std::string::npos);
  for (char c : name) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << int(c);
  EXPECT_TRUE(is_valid_utf8(name));
  EXPECT_LE(name.size(), kMaxNameComponentBytes + 9);  // "-" and 8 hex digits
  EXPECT_EQ(fs::path(name).filename().string(), name);
}

TEST(OutputLayout, HostileTextBecomesOneSafeComponent) {
  for (const std::string& text : kHostile) {
    const std::string name = safe_name_component(text);
    expect_one_safe_component(name, text);
    EXPECT_EQ(safe_name_component(text), name) << "not deterministic";
  }
}

TEST(OutputLayout, OrdinaryNamesAreKeptAsTheyAre) {
  for (const std::string text : {"t10k-00000", "sample0", "features.0", "café", "日本語", ".hidden", "a b"}) {
    EXPECT_EQ(safe_name_component(text), text);
  }
}

TEST(OutputLayout, TextsThatSanitiseAlikeKeepDistinctNames) {
  std::set<std::string> names;
  for (const std::string& text : kHostile) names.insert(safe_name_component(text));
  EXPECT_EQ(names.size(), std::set<std::string>(kHostile.begin(), kHostile.end()).size());
  // The cases of issue 12: all three used to be a_b.
  EXPECT_EQ(safe_name_component("a_b"), "a_b");
  EXPECT_NE(safe_name_component("a/b"), safe_name_component("a:b"));
  EXPECT_EQ(safe_name_component("a/b").rfind("a_b-", 0), 0u) << safe_name_component("a/b");
  // Long texts that share their first kMaxNameComponentBytes bytes.
  EXPECT_NE(safe_name_component(std::string(200, 'a') + "1"), safe_name_component(std::string(200, 'a') + "2"));
}

// The whole relative path of an item's file stays inside the output directory, for hostile ids,
// suffixes and subfolders, in both layouts.
TEST(OutputLayout, ItemPathsStayInsideTheOutputDirectory) {
  const fs::path out = "/run/out";
  const std::vector<std::string> suffixes = {".heatmap.png", ".act.c/../../../../tmp/x.0.png", "/../../x", "\\..\\x",
                                             ".deconv.\xe9\n.png", ""};
  const std::vector<std::string> subdirs = {"", "deep/er", "../..", "/abs", "a/../../b"};
  for (const OutputLayout layout : {OutputLayout::PerItem, OutputLayout::Flat}) {
    const ItemFiles files{out, layout};
    for (const std::string& id : kHostile)
      for (const std::string& suffix : suffixes)
        for (const std::string& subdir : subdirs) {
          const std::string relative = item_output_path(layout, id, suffix, subdir);
          SCOPED_TRACE(escape_invalid_utf8(relative));
          EXPECT_TRUE(is_valid_utf8(relative));
          const fs::path p(relative);
          EXPECT_FALSE(p.has_root_path());
          for (const fs::path& part : p) {
            EXPECT_NE(part, "..");
            EXPECT_NE(part, ".");
          }
          // The file name is the item's safe stem and the suffix, in one component.
          EXPECT_EQ(p.filename().string().rfind(safe_name_component(id), 0), 0u);
          auto absolute = files.absolute(relative);
          ASSERT_TRUE(absolute) << absolute.status().message();
          const fs::path inside = absolute.value().lexically_normal().lexically_relative(out);
          EXPECT_FALSE(inside.empty());
          EXPECT_NE(*inside.begin(), "..") << inside;
        }
  }
}

TEST(OutputLayout, AbsoluteRefusesPathsOutsideTheOutputDirectory) {
  const ItemFiles files{"/run/out", OutputLayout::PerItem};
  for (const std::string relative : {"../x.png", "/etc/passwd", "items/../../x.png", "items/a/../../../x", ""}) {
    auto absolute = files.absolute(relative);
    EXPECT_FALSE(absolute) << relative << " -> " << absolute.value();
  }
  auto ok = files.absolute("items/a/a.heatmap.png");
  ASSERT_TRUE(ok) << ok.status().message();
  EXPECT_EQ(ok.value(), fs::path("/run/out/items/a/a.heatmap.png"));
}

TEST(OutputLayout, InvalidUtf8IsEscapedLosslessly) {
  EXPECT_EQ(escape_invalid_utf8("caf\xe9"), "caf\\xe9");
  EXPECT_EQ(escape_invalid_utf8("café"), "café");
  EXPECT_EQ(escape_invalid_utf8("\xff\xfe"), "\\xff\\xfe");
  EXPECT_NE(escape_invalid_utf8("caf\xe9"), escape_invalid_utf8("caf\xe8"));
  for (const std::string& text : kHostile) EXPECT_TRUE(is_valid_utf8(escape_invalid_utf8(text)));
}

}  // namespace
}  // namespace lrpflow
