// NIfTI in and out (src/runtime/data/nifti.hpp, nifti_dataset.hpp): round
// trips of labels and float volumes with their geometry, .nii and .nii.gz,
// the axis mapping on the bytes of the file, 4 files vs one 4D file, datatype
// conversion and scaling, every bad input as one Status naming the file (and
// nothing on stderr), and the case directories `train --data` reads.
#include <gtest/gtest.h>
#include <nifti/nifti1.h>  // the header struct only: files written by hand below
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "runtime/data/nifti.hpp"
#include "runtime/data/nifti_dataset.hpp"

namespace tensortier::data {
namespace {

namespace fs = std::filesystem;

class Nifti : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tt-nifti-test-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A geometry with every field set to values a float32 header holds exactly.
NiftiGeometry odd_geometry(const Dims3& dims) {
  NiftiGeometry g;
  g.dims = dims;
  g.pixdim = {1.25, 0.75, 2.5};
  g.xyz_units = 2;
  g.qform_code = 1;
  g.quatern_b = 0;
  g.quatern_c = 0;
  g.quatern_d = 1;  // 180 degrees about z: i runs R->L, j A->P
  g.qoffset_x = 10.5;
  g.qoffset_y = -20.25;
  g.qoffset_z = 3;
  g.qfac = -1;
  g.sform_code = 2;
  g.srow = {{{-1.25, 0, 0, 10.5}, {0, -0.75, 0, -20.25}, {0, 0, 2.5, 3}}};
  return g;
}

void expect_same_geometry(const NiftiGeometry& a, const NiftiGeometry& b) {
  EXPECT_EQ(a.dims, b.dims);
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(a.pixdim[i], b.pixdim[i]) << i;
  EXPECT_EQ(a.xyz_units, b.xyz_units);
  EXPECT_EQ(a.qform_code, b.qform_code);
  EXPECT_EQ(a.sform_code, b.sform_code);
  EXPECT_NEAR(a.quatern_b, b.quatern_b, 1e-6);
  EXPECT_NEAR(a.quatern_c, b.quatern_c, 1e-6);
  EXPECT_NEAR(a.quatern_d, b.quatern_d, 1e-6);
  EXPECT_DOUBLE_EQ(a.qoffset_x, b.qoffset_x);
  EXPECT_DOUBLE_EQ(a.qoffset_y, b.qoffset_y);
  EXPECT_DOUBLE_EQ(a.qoffset_z, b.qoffset_z);
  EXPECT_EQ(a.qfac, b.qfac);
  const auto aa = a.affine(), ba = b.affine();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(aa[r][c], ba[r][c], 1e-6) << r << "," << c;
}

std::vector<std::uint8_t> pattern_labels(const Dims3& d) {
  std::vector<std::uint8_t> v(d.voxels());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>((i * 7 + i / 5) % 5);
  return v;
}

std::vector<float> pattern_floats(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * static_cast<float>(i)) + 0.5f;
  return v;
}

// A NIfTI-1 .nii written byte by byte (not through libnifti2): datatype,
// dims (x, y, z, t), scaling and raw voxel bytes; `truncate` drops data bytes.
void write_raw_nii(const std::string& path, std::int16_t datatype, std::int16_t bitpix,
                   std::array<std::int16_t, 4> xyzt, const void* data, std::size_t bytes,
                   float slope = 0, float inter = 0, std::size_t truncate = 0) {
  nifti_1_header h{};
  h.sizeof_hdr = 348;
  h.dim[0] = xyzt[3] > 1 ? 4 : 3;
  for (int a = 0; a < 4; ++a) h.dim[a + 1] = xyzt[a];
  for (int a = 5; a < 8; ++a) h.dim[a] = 1;
  h.datatype = datatype;
  h.bitpix = bitpix;
  for (int a = 0; a < 8; ++a) h.pixdim[a] = 1;
  h.vox_offset = 352;
  h.scl_slope = slope;
  h.scl_inter = inter;
  h.xyzt_units = 2;
  std::memcpy(h.magic, "n+1\0", 4);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&h), sizeof h);
  const char ext[4] = {0, 0, 0, 0};
  out.write(ext, 4);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes - truncate));
}

TEST_F(Nifti, LabelsRoundTripWithGeometryNiiAndNiiGz) {
  const Dims3 dims{3, 5, 7};
  const NiftiGeometry g = odd_geometry(dims);
  const std::vector<std::uint8_t> labels = pattern_labels(dims);
  for (const char* name : {"seg.nii", "seg.nii.gz"}) {
    ASSERT_TRUE(write_nifti_labels(path(name), labels.data(), g)) << name;
    auto back = read_nifti_labels(path(name));
    ASSERT_TRUE(back) << back.status().message();
    EXPECT_EQ(back->labels, labels) << name;
    expect_same_geometry(back->geometry, g);
    EXPECT_EQ(orientation_text(back->geometry), "LPS");  // the sform: -x, -y, +z
  }
  // .nii.gz is gzip (magic 1f 8b); .nii starts with the 348-byte header.
  std::ifstream gz(path("seg.nii.gz"), std::ios::binary);
  unsigned char magic[2] = {};
  gz.read(reinterpret_cast<char*>(magic), 2);
  EXPECT_EQ(magic[0], 0x1f);
  EXPECT_EQ(magic[1], 0x8b);
  EXPECT_EQ(fs::file_size(path("seg.nii")), 352 + dims.voxels());
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(Nifti, FloatVolumesRoundTripAs4d) {
  const Dims3 dims{4, 6, 5};
  const NiftiGeometry g = odd_geometry(dims);
  const std::vector<float> v = pattern_floats(dims.voxels() * kNumModalities, 300.f);
  for (const char* name : {"image.nii", "image.nii.gz"}) {
    ASSERT_TRUE(write_nifti_volumes(path(name), v.data(), kNumModalities, g, "test"));
    auto scan = read_nifti_scan({path(name)});
    ASSERT_TRUE(scan) << scan.status().message();
    EXPECT_EQ(scan->image.channels, kNumModalities);
    EXPECT_EQ(scan->image.dims, dims);
    EXPECT_EQ(scan->image.data, v);  // bit for bit
    expect_same_geometry(scan->geometry, g);
  }
}

// W = x (fastest), H = y, D = z: the voxel bytes of a .nii are our array as is.
TEST_F(Nifti, AxisMappingOnTheFileBytes) {
  const Dims3 dims{2, 3, 4};  // D, H, W
  std::vector<std::uint8_t> labels(dims.voxels());
  for (int z = 0; z < 2; ++z)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x)
        labels[static_cast<std::size_t>((z * 3 + y) * 4 + x)] = static_cast<std::uint8_t>(100 * z + 10 * y + x);
  ASSERT_TRUE(write_nifti_labels(path("axes.nii"), labels.data(), synthetic_geometry(dims)));
  std::ifstream in(path("axes.nii"), std::ios::binary);
  nifti_1_header h{};
  in.read(reinterpret_cast<char*>(&h), sizeof h);
  EXPECT_EQ(h.dim[0], 3);
  EXPECT_EQ(h.dim[1], 4);  // nx = W
  EXPECT_EQ(h.dim[2], 3);  // ny = H
  EXPECT_EQ(h.dim[3], 2);  // nz = D
  EXPECT_EQ(h.datatype, DT_UINT8);
  EXPECT_EQ(h.qform_code, 1);
  in.seekg(static_cast<std::streamoff>(h.vox_offset));
  std::vector<std::uint8_t> bytes(dims.voxels());
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  // Voxel (x=3, y=2, z=1) is at x + nx * (y + ny * z).
  EXPECT_EQ(bytes[3 + 4 * (2 + 3 * 1)], 123);
  EXPECT_EQ(bytes, labels);
  // The synthetic geometry: 1 mm, LAS, centred.
  auto back = read_nifti_labels(path("axes.nii"));
  ASSERT_TRUE(back);
  EXPECT_EQ(orientation_text(back->geometry), "LAS");
  const auto a = back->geometry.affine();
  EXPECT_DOUBLE_EQ(a[0][0], -1);
  EXPECT_DOUBLE_EQ(a[1][1], 1);
  EXPECT_DOUBLE_EQ(a[2][2], 1);
  EXPECT_DOUBLE_EQ(a[0][3], 1.5);  // x of voxel i is 1.5 - i: centred on 0
}

TEST_F(Nifti, FourFilesAndOne4dFileGiveTheSameArray) {
  const Dims3 dims{6, 5, 4};
  const NiftiGeometry g = synthetic_geometry(dims, 1.0);
  const std::vector<float> v = pattern_floats(dims.voxels() * kNumModalities, 2.f);
  std::vector<std::string> files;
  for (int m = 0; m < kNumModalities; ++m) {
    files.push_back(path(std::string(modality_name(static_cast<Modality>(m))) + ".nii.gz"));
    ASSERT_TRUE(write_nifti_volumes(files.back(), v.data() + static_cast<std::size_t>(m) * dims.voxels(), 1, g));
  }
  ASSERT_TRUE(write_nifti_volumes(path("image.nii.gz"), v.data(), kNumModalities, g));
  auto four = read_nifti_scan(files);
  auto one = read_nifti_scan({path("image.nii.gz")});
  ASSERT_TRUE(four) << four.status().message();
  ASSERT_TRUE(one) << one.status().message();
  EXPECT_EQ(four->image.data, one->image.data);
  EXPECT_EQ(four->image.data, v);
  expect_same_geometry(four->geometry, one->geometry);
}

TEST_F(Nifti, ConvertsDatatypesAndAppliesScaling) {
  const std::int16_t raw[8] = {-3, 0, 1, 2, 100, -100, 32767, 7};
  write_raw_nii(path("i16.nii"), DT_INT16, 16, {2, 2, 2, 1}, raw, sizeof raw, 0.5f, 10.f);
  const std::vector<std::string> four(4, path("i16.nii"));
  auto scan = read_nifti_scan(four);
  ASSERT_TRUE(scan) << scan.status().message();
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < 8; ++i)
      EXPECT_FLOAT_EQ(scan->image.data[static_cast<std::size_t>(c * 8 + i)], raw[i] * 0.5f + 10.f);
  // Integer labels of any width; scaled values must be integers 0..255.
  const std::uint16_t seg16[8] = {0, 1, 2, 4, 4, 2, 1, 0};
  write_raw_nii(path("u16.nii"), DT_UINT16, 16, {2, 2, 2, 1}, seg16, sizeof seg16);
  auto labels = read_nifti_labels(path("u16.nii"));
  ASSERT_TRUE(labels) << labels.status().message();
  EXPECT_EQ(labels->labels, (std::vector<std::uint8_t>{0, 1, 2, 4, 4, 2, 1, 0}));
  const double segf[8] = {0, 1, 2, 3, 0, 0, 0, 0};
  write_raw_nii(path("f64.nii"), DT_FLOAT64, 64, {2, 2, 2, 1}, segf, sizeof segf);
  labels = read_nifti_labels(path("f64.nii"));
  ASSERT_TRUE(labels) << labels.status().message();
  EXPECT_EQ(labels->labels, (std::vector<std::uint8_t>{0, 1, 2, 3, 0, 0, 0, 0}));
}

TEST_F(Nifti, EveryBadInputIsOneStatusNamingTheFileAndNothingOnStderr) {
  const Dims3 dims{4, 4, 4};
  const NiftiGeometry g = synthetic_geometry(dims);
  const std::vector<float> v = pattern_floats(dims.voxels() * 4, 1.f);
  std::vector<std::string> good;
  for (const char* m : {"t1", "t1gd", "t2", "flair"}) {
    good.push_back(path(std::string(m) + ".nii"));
    ASSERT_TRUE(write_nifti_volumes(good.back(), v.data(), 1, g));
  }
  const NiftiGeometry other = synthetic_geometry({4, 4, 5});
  ASSERT_TRUE(write_nifti_volumes(path("wide.nii"), v.data(), 1, other));
  ASSERT_TRUE(write_nifti_volumes(path("three.nii.gz"), v.data(), 3, g));
  ASSERT_TRUE(write_nifti_volumes(path("four.nii"), v.data(), 4, g));
  std::ofstream(path("text.nii")) << "this is not a NIfTI file\n";
  std::ofstream(path("garbage.nii.gz")) << "\x1f\x8b not really gzip";
  std::ofstream(path("empty.nii"));
  std::ofstream(path("scan.txt")) << "x";
  fs::create_directories(path("dir.nii"));
  const std::uint8_t bytes[64] = {};
  write_raw_nii(path("truncated.nii"), DT_UINT8, 8, {4, 4, 4, 1}, bytes, sizeof bytes, 0, 0, 20);
  write_raw_nii(path("complex.nii"), DT_COMPLEX64, 64, {2, 2, 2, 1}, bytes, sizeof bytes);
  write_raw_nii(path("rgb.nii"), DT_RGB24, 24, {2, 2, 2, 1}, bytes, 24);
  write_raw_nii(path("zero_dim.nii"), DT_UINT8, 8, {4, 0, 4, 1}, bytes, 0);
  const float half[8] = {0, 0.5f, 0, 0, 0, 0, 0, 0};
  write_raw_nii(path("half.nii"), DT_FLOAT32, 32, {2, 2, 2, 1}, half, sizeof half);
  const std::int16_t big[8] = {0, 300, 0, 0, 0, 0, 0, 0};
  write_raw_nii(path("big.nii"), DT_INT16, 16, {2, 2, 2, 1}, big, sizeof big);

  struct Case {
    const char* what;
    Status status;
    std::string names;  // the file the message must name
  };
  auto with = [&](int i, const std::string& p) {
    std::vector<std::string> f = good;
    f[static_cast<std::size_t>(i)] = p;
    return f;
  };
  testing::internal::CaptureStderr();
  std::vector<Case> cases = {
      {"missing file", read_nifti_scan(with(1, path("missing.nii.gz"))).status(), path("missing.nii.gz")},
      {"text file", read_nifti_scan({path("text.nii")}).status(), path("text.nii")},
      {"bad gzip", read_nifti_labels(path("garbage.nii.gz")).status(), path("garbage.nii.gz")},
      {"empty file", read_nifti_labels(path("empty.nii")).status(), path("empty.nii")},
      {"not a .nii name", read_nifti_labels(path("scan.txt")).status(), path("scan.txt")},
      {"a directory", read_nifti_labels(path("dir.nii")).status(), path("dir.nii")},
      {"truncated data", read_nifti_labels(path("truncated.nii")).status(), path("truncated.nii")},
      {"complex datatype", read_nifti_labels(path("complex.nii")).status(), path("complex.nii")},
      {"rgb datatype", read_nifti_scan(with(0, path("rgb.nii"))).status(), path("rgb.nii")},
      {"zero dim", read_nifti_labels(path("zero_dim.nii")).status(), path("zero_dim.nii")},
      {"modality shapes differ", read_nifti_scan(with(3, path("wide.nii"))).status(), path("wide.nii")},
      {"4D with 3 volumes", read_nifti_scan({path("three.nii.gz")}).status(), path("three.nii.gz")},
      {"3D as a 4D scan", read_nifti_scan({good[0]}).status(), good[0]},
      {"4D as a modality", read_nifti_scan(with(2, path("four.nii"))).status(), path("four.nii")},
      {"4D as labels", read_nifti_labels(path("four.nii")).status(), path("four.nii")},
      {"non-integer label", read_nifti_labels(path("half.nii")).status(), path("half.nii")},
      {"label above 255", read_nifti_labels(path("big.nii")).status(), path("big.nii")},
      {"two files", read_nifti_scan({good[0], good[1]}).status(), ""},
      {"write: bad name", write_nifti_labels(path("out.img"), bytes, g), path("out.img")},
      {"write: no directory", write_nifti_labels(path("no/such/dir/out.nii"), bytes, g),
       path("no/such/dir/out.nii")},
  };
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "") << "libnifti2 printed";
  for (const Case& c : cases) {
    EXPECT_FALSE(c.status) << c.what;
    EXPECT_NE(c.status.message().find(c.names), std::string::npos)
        << c.what << ": " << c.status.message();
    EXPECT_EQ(c.status.message().find('\n'), std::string::npos) << c.what;
  }
  EXPECT_EQ(cases[0].status.code(), Errc::not_found);
  EXPECT_NE(cases[7].status.message().find("COMPLEX64"), std::string::npos) << cases[7].status.message();
  EXPECT_NE(cases[11].status.message().find("it has 3"), std::string::npos) << cases[11].status.message();
  EXPECT_NE(cases[10].status.message().find("differs"), std::string::npos) << cases[10].status.message();
  EXPECT_FALSE(fs::exists(path("out.img")));
}

TEST(NiftiHelpers, ZscoreOverNonZeroVoxelsLeavesZeros) {
  std::vector<float> v = {0, 2, 4, 0, 6, 0, 0, 0,   // channel 0: mean 4, std sqrt(8/3)
                          0, 0, 0, 0, 0, 0, 0, 0};  // channel 1: all zero stays zero
  zscore_nonzero(v.data(), 2, 8);
  const float sd = std::sqrt(8.f / 3.f);
  EXPECT_FLOAT_EQ(v[1], -2 / sd);
  EXPECT_FLOAT_EQ(v[2], 0);
  EXPECT_FLOAT_EQ(v[4], 2 / sd);
  EXPECT_EQ(v[0], 0.f);
  EXPECT_EQ(v[3], 0.f);
  for (int i = 8; i < 16; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], 0.f);
}

TEST(NiftiHelpers, CentreCropAndPad) {
  // 1 x 4 x 4 -> 1 x 2 x 6: rows cropped to the middle two, columns padded by 1 each side.
  std::vector<std::uint8_t> src(16);
  std::iota(src.begin(), src.end(), 1);
  std::vector<std::uint8_t> dst(12, 99);
  centre_crop_or_pad(src.data(), {1, 4, 4}, dst.data(), {1, 2, 6});
  EXPECT_EQ(dst, (std::vector<std::uint8_t>{0, 5, 6, 7, 8, 0, 0, 9, 10, 11, 12, 0}));
  std::vector<float> f(16, 1.f), g(2 * 3 * 3, -1.f);
  centre_crop_or_pad(f.data(), {1, 4, 4}, g.data(), {2, 3, 3}, 1);
  // Depth 1 -> 2: the slice goes to index 0 ((2 - 1) / 2 = 0), slice 1 is padding.
  for (int i = 0; i < 9; ++i) EXPECT_EQ(g[static_cast<std::size_t>(i)], 1.f);
  for (int i = 9; i < 18; ++i) EXPECT_EQ(g[static_cast<std::size_t>(i)], 0.f);
}

TEST_F(Nifti, CaseDirectoriesOursAndBratsNaming) {
  const Dims3 dims{8, 8, 8};
  const NiftiGeometry g = synthetic_geometry(dims);
  std::vector<float> v(dims.voxels(), 0.f);
  for (std::size_t i = 0; i < v.size(); i += 2) v[i] = static_cast<float>(i % 17) + 1.f;
  std::vector<std::uint8_t> brats(dims.voxels(), 0);
  brats[10] = 1;
  brats[11] = 2;
  brats[12] = 4;  // BraTS 2017-2021 enhancing
  // 5 cases: 4 in BraTS naming at 8^3, one of ours (4D) at 8x8x6: held out = 1.
  for (int c = 0; c < 4; ++c) {
    const fs::path d = dir_ / ("BraTS_00" + std::to_string(c));
    fs::create_directories(d);
    const std::string p = "BraTS_00" + std::to_string(c);
    for (const char* m : {"_t1", "_t1ce", "_t2", "_flair"})
      ASSERT_TRUE(write_nifti_volumes((d / (p + m + ".nii.gz")).string(), v.data(), 1, g));
    ASSERT_TRUE(write_nifti_labels((d / (p + "_seg.nii.gz")).string(), brats.data(), g));
  }
  const Dims3 small{6, 8, 8};
  fs::create_directories(dir_ / "z_case");
  std::vector<float> v4(small.voxels() * 4, 1.f);
  ASSERT_TRUE(write_nifti_volumes((dir_ / "z_case" / "image.nii").string(), v4.data(), 4,
                                  synthetic_geometry(small)));
  std::vector<std::uint8_t> seg(small.voxels(), 3);
  ASSERT_TRUE(write_nifti_labels((dir_ / "z_case" / "seg.nii").string(), seg.data(), synthetic_geometry(small)));
  fs::create_directories(dir_ / ".hidden");

  auto ds = NiftiDataset::open(dir_.string(), dims);
  ASSERT_TRUE(ds) << ds.status().message();
  ASSERT_EQ(ds->size(), 5u);
  EXPECT_EQ(ds->held_out(), 1u);
  EXPECT_EQ(ds->training_cases(), 4u);
  EXPECT_EQ(ds->files(4).name, "z_case");  // name order: the held-out case is last
  EXPECT_EQ(ds->files(0).image.size(), 4u);
  EXPECT_NE(ds->files(0).image[1].find("_t1ce"), std::string::npos);
  EXPECT_EQ(ds->files(4).image.size(), 1u);
  EXPECT_EQ(ds->resized_cases(), 1u);
  EXPECT_NE(ds->summary().find("centre-cropped / zero-padded"), std::string::npos) << ds->summary();

  std::vector<float> image(dims.voxels() * 4);
  std::vector<std::uint8_t> labels(dims.voxels());
  ASSERT_TRUE(ds->load(0, image.data(), labels.data()));
  EXPECT_EQ(labels[10], 1);
  EXPECT_EQ(labels[11], 2);
  EXPECT_EQ(labels[12], 3);  // BraTS 4 -> enhancing (3)
  // z-scored over non-zero voxels: mean 0, std 1 there; zeros stay 0.
  double sum = 0, sq = 0;
  int n = 0;
  for (std::size_t i = 0; i < dims.voxels(); ++i) {
    if (v[i] == 0.f) {
      EXPECT_EQ(image[i], 0.f);
      continue;
    }
    sum += image[i];
    sq += image[i] * image[i];
    ++n;
  }
  EXPECT_NEAR(sum / n, 0.0, 1e-5);
  EXPECT_NEAR(sq / n, 1.0, 1e-4);
  // The 8x8x6 case is zero-padded in D: slice 0 and 7 are padding.
  ASSERT_TRUE(ds->load(4, image.data(), labels.data()));
  EXPECT_EQ(labels[0], 0);
  EXPECT_EQ(labels[64], 3);
  EXPECT_EQ(labels[7 * 64], 0);

  // An incomplete case is an error naming its directory and what is missing.
  fs::create_directories(dir_ / "broken");
  ASSERT_TRUE(write_nifti_volumes((dir_ / "broken" / "t1.nii").string(), v.data(), 1, g));
  auto bad = NiftiDataset::open(dir_.string(), dims);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("broken"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("t1gd"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace tensortier::data
