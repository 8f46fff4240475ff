// NIfTI through the CLI as a user runs it: `generate` writes case
// directories, `train --data` trains on them (and crops / pads other sizes,
// holding out the last cases), `infer --input` segments a scan given as 4
// files or one 4D file, and Debian's nibabel (python3-nibabel) reads what we
// wrote: shape, dtype, the input's affine, label values. Bad input ends in one
// line and exit code 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "run_command.hpp"
#include "runtime/data/nifti.hpp"

namespace tensortier {
namespace {

namespace fs = std::filesystem;
using test_support::CommandResult;
using test_support::run_command;
using test_support::slurp;

CommandResult cli(const std::vector<std::string>& args) {
  return test_support::run_cli(args, {{"TENSORTIER_PMEM", "none"}});
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

const std::vector<std::string> kModel = {"--size", "32", "--levels", "3", "--base-filters", "4",
                                         "--threads", "2"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool nibabel_available() {
  return run_command({"/usr/bin/python3", "-c", "import nibabel"}).exit_code == 0;
}

class CliNifti : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tt-cli-nifti-" + std::to_string(getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> modalities(const std::string& case_dir) const {
    std::vector<std::string> v;
    for (const char* m : {"t1", "t1gd", "t2", "flair"}) v.push_back(case_dir + "/" + m + ".nii.gz");
    return v;
  }
  fs::path dir_;
};

TEST_F(CliNifti, GenerateTrainInferAndReadBackWithNibabel) {
  const std::string cases = path("cases");
  CommandResult g = cli({"generate", "--out", cases, "--cases", "3", "--size", "32", "--gz"});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  EXPECT_NE(g.err.find("generate: case 3/3"), std::string::npos) << g.err;
  for (const char* f : {"t1", "t1gd", "t2", "flair", "seg"})
    EXPECT_TRUE(fs::exists(cases + "/case_0002/" + f + ".nii.gz")) << f;
  // Existing case directories are kept unless --force.
  CommandResult again = cli({"generate", "--out", cases, "--cases", "3", "--size", "32", "--gz"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_EQ(count_lines(again.err), 1u) << again.err;
  EXPECT_NE(again.err.find("case_0000"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  ASSERT_EQ(cli({"generate", "--out", cases, "--cases", "3", "--size", "32", "--gz", "--force"})
                .exit_code,
            0);

  // 2 steps on the NIfTI cases; 3 cases: none held out (min(4, 3 / 5) = 0).
  const std::string report = path("train.json");
  const std::string weights = path("w.ttckpt");
  CommandResult t = cli(with({"train", "--data", cases, "--steps", "2", "--json", report,
                              "--save", weights},
                             kModel));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("3 NIfTI cases in " + cases + ": 3 for training, 0 held out"),
            std::string::npos)
      << t.err;
  EXPECT_EQ(t.err.find("eval after"), std::string::npos) << t.err;
  const auto doc = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(doc["data"], "NIfTI " + cases);
  ASSERT_EQ(doc["losses"].size(), 2u);
  for (const auto& l : doc["losses"]) EXPECT_TRUE(std::isfinite(l.get<double>())) << l;
  ASSERT_TRUE(fs::exists(weights));

  // Inference on case 2 (4 files), labels and probabilities with its geometry.
  const std::string seg = path("seg.nii.gz");
  const std::string probs = path("probs.nii.gz");
  CommandResult inf = cli(with(with({"infer", "--input"}, modalities(cases + "/case_0002")),
                               {"--weights", weights, "--output", seg, "--probabilities", probs,
                                "--threads", "2"}));
  ASSERT_EQ(inf.exit_code, 0) << inf.err;
  EXPECT_EQ(count_lines(inf.err), 1u) << inf.err;
  EXPECT_NE(inf.err.find("32x32x32 (x, y, z), LAS"), std::string::npos) << inf.err;

  // The same case as one 4D file gives the same labels.
  const std::string one = path("one");
  ASSERT_EQ(cli({"generate", "--out", one, "--cases", "3", "--size", "32", "--format", "4d"})
                .exit_code,
            0);
  const std::string seg4d = path("seg4d.nii");
  CommandResult inf4 = cli({"infer", "--input", one + "/case_0002/image.nii", "--weights", weights,
                            "--output", seg4d, "--threads", "2"});
  ASSERT_EQ(inf4.exit_code, 0) << inf4.err;
  auto a = data::read_nifti_labels(seg);
  auto b = data::read_nifti_labels(seg4d);
  ASSERT_TRUE(a) << a.status().message();
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(a->labels, b->labels);

  if (!nibabel_available()) GTEST_SKIP() << "/usr/bin/python3 cannot import nibabel (apt-get install python3-nibabel)";
  const std::string script = R"PY(
import sys
import nibabel as nib
import numpy as np
seg, probs, t1 = (nib.load(p) for p in sys.argv[1:4])
s = np.asanyarray(seg.dataobj)
p = np.asanyarray(probs.dataobj)
assert seg.shape == t1.shape == (32, 32, 32), (seg.shape, t1.shape)
assert s.dtype == np.uint8, s.dtype
assert np.array_equal(seg.affine, t1.affine), (seg.affine, t1.affine)
assert nib.aff2axcodes(seg.affine) == ("L", "A", "S"), nib.aff2axcodes(seg.affine)
assert seg.header.get_zooms() == (1.0, 1.0, 1.0), seg.header.get_zooms()
assert s.min() >= 0 and s.max() <= 3, (s.min(), s.max())
assert probs.shape == (32, 32, 32, 4) and p.dtype == np.float32, (probs.shape, p.dtype)
assert np.array_equal(probs.affine, t1.affine)
assert np.allclose(p.sum(axis=3), 1, atol=1e-5)
assert np.array_equal(p.argmax(axis=3), s)
lab = np.asanyarray(nib.load(sys.argv[4]).dataobj)
assert lab.dtype == np.uint8 and set(np.unique(lab)) <= {0, 1, 2, 3}, np.unique(lab)
assert (lab > 0).sum() > 0
print("nibabel ok")
)PY";
  CommandResult py = run_command({"/usr/bin/python3", "-c", script, seg, probs,
                                  cases + "/case_0002/t1.nii.gz", cases + "/case_0002/seg.nii.gz"});
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;
  EXPECT_NE(py.out.find("nibabel ok"), std::string::npos) << py.out << py.err;
}

// 4 cases of 32^3 and one of 40^3: 5 cases, the last held out and scored; the
// other size is cropped to the training size and said so once.
TEST_F(CliNifti, TrainDataCropsOtherSizesAndHoldsOutTheLastCases) {
  const std::string cases = path("cases");
  ASSERT_EQ(cli({"generate", "--out", cases, "--cases", "4", "--size", "32"}).exit_code, 0);
  ASSERT_EQ(cli({"generate", "--out", path("big"), "--cases", "1", "--size", "40", "--seed", "1"})
                .exit_code,
            0);
  fs::rename(path("big") + "/case_0000", cases + "/case_0100");
  CommandResult t = cli(with({"train", "--data", cases, "--steps", "1"}, kModel));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("5 NIfTI cases in " + cases + ": 4 for training, 1 held out"),
            std::string::npos)
      << t.err;
  const auto first = t.err.find("centre-cropped / zero-padded");
  EXPECT_NE(first, std::string::npos) << t.err;
  EXPECT_EQ(t.err.find("centre-cropped", first + 1), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("eval after step 1 on 1 held-out cases"), std::string::npos) << t.err;
}

TEST_F(CliNifti, BadInputIsOneLineAndExitCode2) {
  const std::string cases = path("cases");
  ASSERT_EQ(cli({"generate", "--out", cases, "--cases", "1", "--size", "30", "--gz"}).exit_code, 0);
  const std::string weights = path("w.ttckpt");
  ASSERT_EQ(cli(with({"train", "--steps", "1", "--eval-cases", "0", "--save", weights}, kModel))
                .exit_code,
            0);
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const std::string c0 = cases + "/case_0000";
  const std::vector<Case> bad = {
      {{"infer", "--input", path("missing.nii.gz"), "--weights", weights, "--output", path("o.nii")},
       path("missing.nii.gz")},
      // 30^3 does not halve twice into whole voxels for a 3-level U-Net.
      {with(with({"infer", "--input"}, modalities(c0)), {"--weights", weights, "--output", path("o.nii")}),
       "not divisible by 4"},
      {{"infer", "--input", c0 + "/t1.nii.gz", "--weights", weights, "--output", path("o.nii")},
       c0 + "/t1.nii.gz': a one-file scan must be 4D"},
      {{"infer", "--input", c0 + "/t1.nii.gz", "--output", path("o.nii")}, "--weights"},
      {{"infer", "--input", c0 + "/t1.nii.gz", "--weights", weights, "--output", path("o.raw")},
       "o.raw"},
      {{"train", "--data", path("nowhere"), "--size", "32", "--steps", "1"}, path("nowhere")},
      {{"train", "--data", c0, "--size", "32", "--steps", "1"}, "no case directories"},  // one case
      {{"generate", "--out", path("x"), "--cases", "1", "--size", "8"}, "--size"},
      {{"generate", "--out", path("x"), "--cases", "0", "--size", "32"}, "--cases"},
  };
  for (const Case& c : bad) {
    CommandResult r = cli(c.args);
    std::string line;
    for (const auto& a : c.args) line += a + " ";
    EXPECT_EQ(r.exit_code, 2) << line << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << line << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << line << "\n" << r.err;
  }
}

}  // namespace
}  // namespace tensortier
