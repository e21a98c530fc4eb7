// .npy reading and writing: every supported dtype, the three header versions, and bad files.
#include <gtest/gtest.h>

#include <cstring>

#include <ATen/ATen.h>

#include "lrpflow/files.h"
#include "lrpflow/npy.h"
#include "plugin_test_support.h"

namespace lrpflow {
namespace {

using testing::TempDir;
using testing::write_bytes;

// A .npy file assembled by hand from its parts (independent of encode_npy).
std::string npy_file(int major, const std::string& dict, const std::string& data) {
  std::string header = dict;
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  while ((6 + 2 + length_bytes + header.size() + 1) % 16 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (std::size_t i = 0; i < length_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
}

void expect_values(const at::Tensor& t, const std::vector<float>& expected) {
  ASSERT_EQ(t.scalar_type(), at::kFloat);
  ASSERT_EQ(t.numel(), static_cast<std::int64_t>(expected.size()));
  const at::Tensor flat = t.contiguous().view({-1});
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_FLOAT_EQ(flat[i].item<float>(), expected[i]) << "element " << i;
}

TEST(Npy, HostIsLittleEndian) {
  // The hand-built data below (and the reader) assume it.
  const std::uint16_t one = 1;
  EXPECT_EQ(*reinterpret_cast<const unsigned char*>(&one), 1);
}

TEST(Npy, ReadsEveryIntegerAndFloatDtype) {
  const std::vector<float> signed_values = {0, 1, -2, 100};
  const std::vector<float> unsigned_values = {0, 1, 2, 200};
  struct Case {
    std::string descr;
    std::string data;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {"<f4", raw<float>({0.5f, -1.25f, 3.0f, 1e-3f}), {0.5f, -1.25f, 3.0f, 1e-3f}},
      {"<f8", raw<double>({0.5, -1.25, 3.0, 1e-3}), {0.5f, -1.25f, 3.0f, 1e-3f}},
      {"<f2", raw<std::uint16_t>({0x3800, 0xBD00, 0x4200, 0x0000}), {0.5f, -1.25f, 3.0f, 0.0f}},  // IEEE half bits
      {"|i1", raw<std::int8_t>({0, 1, -2, 100}), signed_values},
      {"<i2", raw<std::int16_t>({0, 1, -2, 100}), signed_values},
      {"<i4", raw<std::int32_t>({0, 1, -2, 100}), signed_values},
      {"<i8", raw<std::int64_t>({0, 1, -2, 100}), signed_values},
      {"|u1", raw<std::uint8_t>({0, 1, 2, 200}), unsigned_values},
      {"<u2", raw<std::uint16_t>({0, 1, 2, 200}), unsigned_values},
      {"<u4", raw<std::uint32_t>({0, 1, 2, 4000000000u}), {0, 1, 2, 4e9f}},
      {"<u8", raw<std::uint64_t>({0, 1, 2, 200}), unsigned_values},
      {"|b1", raw<std::uint8_t>({0, 1, 1, 0}), {0, 1, 1, 0}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.descr);
    auto t = parse_npy(npy_file(1, dict(c.descr, "(2, 2)"), c.data), "mem.npy");
    ASSERT_TRUE(t) << t.status().message();
    EXPECT_EQ(t.value().sizes(), (std::vector<std::int64_t>{2, 2}));
    expect_values(t.value(), c.expected);
  }
}

TEST(Npy, ReadsVersionOneTwoAndThreeHeaders) {
  const std::string data = raw<float>({1, 2, 3, 4, 5, 6});
  for (int major : {1, 2, 3}) {
    SCOPED_TRACE(major);
    auto t = parse_npy(npy_file(major, dict("<f4", "(2, 3)"), data), "mem.npy");
    ASSERT_TRUE(t) << t.status().message();
    EXPECT_EQ(t.value().sizes(), (std::vector<std::int64_t>{2, 3}));
    expect_values(t.value(), {1, 2, 3, 4, 5, 6});
  }
}

TEST(Npy, ReadsScalarsOneDimensionalAndEmptyArraysAndKeyOrder) {
  auto scalar = parse_npy(npy_file(1, dict("<f4", "()"), raw<float>({7})), "s.npy");
  ASSERT_TRUE(scalar) << scalar.status().message();
  EXPECT_EQ(scalar.value().dim(), 0);
  EXPECT_FLOAT_EQ(scalar.value().item<float>(), 7.0f);

  auto vector = parse_npy(npy_file(1, "{\"shape\": (3,), \"fortran_order\": False, \"descr\": \"<i4\"}",
                                   raw<std::int32_t>({4, 5, 6})), "v.npy");
  ASSERT_TRUE(vector) << vector.status().message();
  EXPECT_EQ(vector.value().sizes(), (std::vector<std::int64_t>{3}));
  expect_values(vector.value(), {4, 5, 6});

  auto empty = parse_npy(npy_file(1, dict("<f4", "(0, 4)"), ""), "e.npy");
  ASSERT_TRUE(empty) << empty.status().message();
  EXPECT_EQ(empty.value().sizes(), (std::vector<std::int64_t>{0, 4}));
}

TEST(Npy, WriterProducesAlignedVersionOneFloat32Header) {
  auto bytes = encode_npy(at::arange(6, at::kDouble).reshape({1, 2, 3}));
  ASSERT_TRUE(bytes) << bytes.status().message();
  const std::string& b = bytes.value();
  ASSERT_GT(b.size(), 10u);
  EXPECT_EQ(b.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(b[6], 1);
  EXPECT_EQ(b[7], 0);
  const std::size_t header_length = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
  EXPECT_EQ((10 + header_length) % 64, 0u) << "data must start on a 64-byte boundary";
  const std::string header = b.substr(10, header_length);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'fortran_order': False"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (1, 2, 3)"), std::string::npos) << header;
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(b.size(), 10 + header_length + 6 * sizeof(float));
  float data[6];
  std::memcpy(data, b.data() + 10 + header_length, sizeof(data));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(data[i], static_cast<float>(i));

  auto one_d = encode_npy(at::ones({5}));
  ASSERT_TRUE(one_d);
  EXPECT_NE(one_d.value().find("'shape': (5,)"), std::string::npos);
}

TEST(Npy, RoundTripsThroughAFileAtomically) {
  TempDir dir;
  const at::Tensor original = at::randn({2, 3, 4, 5});
  // A non-contiguous view must be written in logical order.
  const at::Tensor transposed = original.transpose(1, 3);
  const auto path = dir / "sub/x.npy";
  ASSERT_TRUE(write_npy(path, transposed));
  auto back = read_npy(path);
  ASSERT_TRUE(back) << back.status().message();
  EXPECT_EQ(back.value().sizes(), transposed.sizes());
  EXPECT_TRUE(at::equal(back.value(), transposed.contiguous()));
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());

  // Integer and bool tensors are written as float32.
  ASSERT_TRUE(write_npy(dir / "b.npy", at::tensor({1, 0, 1}).to(at::kBool)));
  auto bools = read_npy(dir / "b.npy");
  ASSERT_TRUE(bools);
  expect_values(bools.value(), {1, 0, 1});
}

TEST(Npy, WriteRefusesUndefinedTensorAndDirectoryPath) {
  TempDir dir;
  auto undefined = write_npy(dir / "u.npy", at::Tensor());
  ASSERT_FALSE(undefined);
  EXPECT_NE(undefined.message().find("u.npy"), std::string::npos) << undefined.message();

  std::filesystem::create_directories(dir / "taken.npy");
  auto onto_dir = write_npy(dir / "taken.npy", at::ones({2}));
  ASSERT_FALSE(onto_dir);
  EXPECT_NE(onto_dir.message().find("taken.npy"), std::string::npos) << onto_dir.message();
  EXPECT_TRUE(testing::temporaries_in(dir.path()).empty());
}

struct BadFile {
  std::string name;
  std::string bytes;
  std::string expected_words;
};

// Shown by ctest / gtest instead of the struct's bytes.
void PrintTo(const BadFile& bad, std::ostream* os) { *os << bad.name; }

class NpyBadFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(NpyBadFile, IsAnErrorNamingTheFileAndTheProblem) {
  TempDir dir;
  const auto path = dir / (GetParam().name + ".npy");
  write_bytes(path, GetParam().bytes);
  auto t = read_npy(path);
  ASSERT_FALSE(t) << "read a bad file without an error";
  const std::string message = t.status().message();
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find(GetParam().expected_words), std::string::npos) << message;
}

const std::string kSixFloats = raw<float>({1, 2, 3, 4, 5, 6});

INSTANTIATE_TEST_SUITE_P(
    Npy, NpyBadFile,
    ::testing::Values(
        BadFile{"empty", "", "magic"},
        BadFile{"bad_magic", std::string("\x93NUMPZ\x01\x00\x10\x00", 10) + std::string(16, ' '), "magic"},
        BadFile{"text", "just some text, not an array", "magic"},
        BadFile{"version", npy_file(1, dict("<f4", "(6,)"), kSixFloats).replace(6, 1, "\x09"), "version 9"},
        BadFile{"header_cut", npy_file(1, dict("<f4", "(6,)"), kSixFloats).substr(0, 30), "truncated"},
        BadFile{"data_cut", npy_file(1, dict("<f4", "(2, 3)"), kSixFloats.substr(0, 20)), "truncated"},
        BadFile{"extra", npy_file(1, dict("<f4", "(5,)"), kSixFloats), "unexpected bytes"},
        BadFile{"fortran", npy_file(1, dict("<f4", "(2, 3)", true), kSixFloats), "Fortran"},
        BadFile{"big_endian", npy_file(1, dict(">f4", "(2, 3)"), kSixFloats), "big-endian"},
        BadFile{"complex", npy_file(1, dict("<c8", "(3,)"), kSixFloats), "unsupported dtype '<c8'"},
        BadFile{"structured", npy_file(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", kSixFloats),
                "structured"},
        BadFile{"no_shape", npy_file(1, "{'descr': '<f4', 'fortran_order': False, }", kSixFloats), "lacks"},
        BadFile{"garbage_header", npy_file(1, "not a dict", kSixFloats), "bad header"}),
    [](const ::testing::TestParamInfo<BadFile>& info) { return info.param.name; });

}  // namespace
}  // namespace lrpflow
