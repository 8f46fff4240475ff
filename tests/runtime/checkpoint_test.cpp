// Checkpoints (src/runtime/model/checkpoint.hpp): a round trip keeps the
// config and every byte of every parameter; missing, foreign, truncated and
// corrupt files are a Status naming the file, never a crash.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/model/checkpoint.hpp"
#include "train_test_support.hpp"

namespace tensortier::runtime::model {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("tt-ckpt-" + std::to_string(getpid()) + "-" + name))
      .string();
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Model {
  std::unique_ptr<Allocator> alloc = train::test::dram_allocator();
  UNet3dConfig config;
  graph::Graph graph;
  Parameters params;
  explicit Model(int levels = 2, bool batch_norm = true) {
    config.levels = levels;
    config.base_filters = 4;
    config.classes = 3;
    config.batch_norm = batch_norm;
    config.activation = Activation::leaky_relu;
    config.negative_slope = 0.02f;
    build_unet3d(graph, config, {1, 4, 16, 16, 16}, {});
    params = init_parameters(graph, *alloc, 3);
    // Running statistics that differ from their initial values.
    for (std::size_t i = 0; i < params.names.size(); ++i)
      if (params.names[i].ends_with(".running_var")) params.tensors[i].fill(0.25f + float(i));
  }
};

TEST(Checkpoint, RoundTripKeepsConfigAndEveryByte) {
  Model m;
  const std::string path = temp_path("round.ttckpt");
  ASSERT_TRUE(save_parameters(path, m.config, m.params));
  Result<Checkpoint> c = load_parameters(path, *m.alloc);
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->config.levels, m.config.levels);
  EXPECT_EQ(c->config.base_filters, m.config.base_filters);
  EXPECT_EQ(c->config.in_channels, m.config.in_channels);
  EXPECT_EQ(c->config.classes, m.config.classes);
  EXPECT_EQ(c->config.activation, Activation::leaky_relu);
  EXPECT_EQ(c->config.negative_slope, 0.02f);
  EXPECT_EQ(c->config.batch_norm, true);
  EXPECT_EQ(c->config.conv_bias, m.config.conv_bias);
  ASSERT_EQ(c->parameters.names, m.params.names);
  bool has_running_var = false;
  for (std::size_t i = 0; i < m.params.names.size(); ++i) {
    const Tensor& a = m.params.tensors[i];
    const Tensor& b = c->parameters.tensors[i];
    ASSERT_EQ(a.dims(), b.dims()) << m.params.names[i];
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0) << m.params.names[i];
    has_running_var |= m.params.names[i].ends_with(".running_var");
  }
  EXPECT_TRUE(has_running_var);
  EXPECT_TRUE(check_parameters(m.graph, c->parameters));
  // Nothing left behind but the file itself.
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
    EXPECT_EQ(e.path().string().find(path + ".tmp"), std::string::npos) << e.path();
  std::remove(path.c_str());
}

TEST(Checkpoint, SaveReplacesAnExistingFile) {
  Model a(2), b(3, false);
  const std::string path = temp_path("replace.ttckpt");
  ASSERT_TRUE(save_parameters(path, a.config, a.params));
  ASSERT_TRUE(save_parameters(path, b.config, b.params));
  Result<Checkpoint> c = load_parameters(path, *b.alloc);
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->config.levels, 3);
  EXPECT_FALSE(c->config.batch_norm);
  EXPECT_EQ(c->parameters.names, b.params.names);
  std::remove(path.c_str());
}

TEST(Checkpoint, ParametersOfAnotherModelAreNamed) {
  Model a(2), b(3);
  const Status s = check_parameters(b.graph, a.params);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("parameter '"), std::string::npos) << s.message();
  Parameters renamed = a.params;
  renamed.names[0] += "x";
  EXPECT_FALSE(check_parameters(a.graph, renamed));
}

TEST(Checkpoint, MissingFileAndUnwritablePath) {
  Model m;
  const std::string missing = temp_path("missing.ttckpt");
  Result<Checkpoint> c = load_parameters(missing, *m.alloc);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.status().code(), Errc::not_found);
  EXPECT_NE(c.status().message().find(missing), std::string::npos);
  const Status s = save_parameters("/nonexistent-dir/x.ttckpt", m.config, m.params);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), Errc::io_error);
  EXPECT_NE(s.message().find("/nonexistent-dir/x.ttckpt"), std::string::npos);
}

TEST(Checkpoint, RejectsNonPlainOrDuplicateParameters) {
  Model m;
  Parameters dup = m.params;
  dup.names[1] = dup.names[0];
  EXPECT_EQ(save_parameters(temp_path("dup"), m.config, dup).code(), Errc::invalid_argument);
  Parameters undefined = m.params;
  undefined.tensors[0] = Tensor();
  EXPECT_EQ(save_parameters(temp_path("undef"), m.config, undefined).code(), Errc::invalid_argument);
}

// Every truncation, a flipped byte anywhere, a foreign file, trailing bytes.
TEST(Checkpoint, CorruptFilesAreCleanErrors) {
  Model m;
  const std::string path = temp_path("good.ttckpt");
  ASSERT_TRUE(save_parameters(path, m.config, m.params));
  const std::vector<char> good = read_all(path);
  ASSERT_GT(good.size(), 100u);
  const std::string bad = temp_path("bad.ttckpt");
  auto expect_rejected = [&](const std::vector<char>& bytes, const std::string& what) {
    write_all(bad, bytes);
    Result<Checkpoint> c = load_parameters(bad, *m.alloc);
    ASSERT_FALSE(c) << what;
    EXPECT_EQ(c.status().code(), Errc::invalid_argument) << what;
    EXPECT_NE(c.status().message().find(bad), std::string::npos) << c.status().message();
  };
  // Truncations: every length in the header region, then a stride through the data.
  for (std::size_t n = 0; n < good.size(); n += (n < 300 ? 1 : 997))
    expect_rejected(std::vector<char>(good.begin(), good.begin() + static_cast<long>(n)),
                    "truncated to " + std::to_string(n));
  expect_rejected(std::vector<char>(good.begin(), good.end() - 1), "last byte cut");
  // One flipped bit anywhere (header fields, names, dims, data, checksum).
  for (std::size_t at = 0; at < good.size(); at += (at < 300 ? 1 : 1013)) {
    std::vector<char> flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    expect_rejected(flipped, "bit flipped at " + std::to_string(at));
  }
  std::vector<char> longer = good;
  longer.push_back('\0');
  expect_rejected(longer, "trailing byte");
  expect_rejected(std::vector<char>{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0}, "a zip file");
  // A header claiming a huge tensor: rejected before allocating it.
  std::vector<char> huge = good;
  const std::size_t dims_at = 8 + 9 * 4 + 4 + m.params.names[0].size() + 4;
  const std::int64_t big = std::int64_t{1} << 40;
  std::memcpy(huge.data() + dims_at, &big, sizeof big);
  expect_rejected(huge, "huge dimension");
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace tensortier::runtime::model
