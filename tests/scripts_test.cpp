// The README's two commands are scripts under tools/, and CI runs the test one.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::slurp;

bool executable(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR);
}

TEST(Scripts, ReadmeCommandsExistAndAreExecutable) {
  for (const char* script : {"/tools/run.sh", "/tools/test.sh", "/tools/install-deps.sh",
                             "/tools/build.sh", "/.ci/run"})
    EXPECT_TRUE(executable(std::string(TT_SOURCE_DIR) + script)) << script;
  const std::string readme = slurp(std::string(TT_SOURCE_DIR) + "/README.md");
  EXPECT_NE(readme.find("tools/run.sh"), std::string::npos);
  EXPECT_NE(readme.find("tools/test.sh"), std::string::npos);
}

TEST(Scripts, CiRunsTheReadmeTestCommand) {
  const std::string ci = slurp(std::string(TT_SOURCE_DIR) + "/.ci/run");
  EXPECT_NE(ci.find("tools/test.sh"), std::string::npos) << ci;
}

TEST(Scripts, BothCommandsInstallThenBuild) {
  for (const char* script : {"/tools/run.sh", "/tools/test.sh"}) {
    const std::string text = slurp(std::string(TT_SOURCE_DIR) + script);
    const auto install = text.find("tools/install-deps.sh");
    const auto build = text.find("tools/build.sh");
    ASSERT_NE(install, std::string::npos) << script;
    ASSERT_NE(build, std::string::npos) << script;
    EXPECT_LT(install, build) << script;
  }
  EXPECT_NE(slurp(std::string(TT_SOURCE_DIR) + "/tools/test.sh").find("ctest"),
            std::string::npos);
}

TEST(Scripts, InstallIsIdempotentAndNonInteractive) {
  const std::string text = slurp(std::string(TT_SOURCE_DIR) + "/tools/install-deps.sh");
  EXPECT_NE(text.find("DEBIAN_FRONTEND=noninteractive"), std::string::npos);
  EXPECT_NE(text.find("-y"), std::string::npos);
  // The packages are installed on a machine that ran the tests: a second run
  // must find them all and touch nothing.
  auto r = test_support::run_command({"/bin/bash", std::string(TT_SOURCE_DIR) + "/tools/install-deps.sh"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("packages present"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace tensortier
