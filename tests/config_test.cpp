#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tensortier/config.hpp"

namespace tensortier {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(ParseSize, AcceptsBinarySuffixes) {
  EXPECT_EQ(*parse_size("1024"), 1024u);
  EXPECT_EQ(*parse_size("4K"), 4096u);
  EXPECT_EQ(*parse_size("512M"), 512ull << 20);
  EXPECT_EQ(*parse_size("64G"), 64ull << 30);
  EXPECT_EQ(*parse_size("2T"), 2ull << 40);
  EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(*parse_size("8gib"), 8ull << 30);
  EXPECT_EQ(*parse_size(" 16 MB "), 16ull << 20);
  EXPECT_EQ(*parse_size("100B"), 100u);
}

TEST(ParseSize, RejectsBadText) {
  for (const char* text : {"", "12Q", "-1", "0", "0K", "abc", "1.2.3G", "G", "1e3", "0.5",
                           "99999999999T", "4 GiBs", "5KK"}) {
    auto r = parse_size(text);
    ASSERT_FALSE(r.has_value()) << "accepted '" << text << "'";
    EXPECT_EQ(r.status().code(), Errc::invalid_argument);
    EXPECT_NE(r.status().message().find(std::string("'") + text + "'"), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("accepted"), std::string::npos);
  }
}

TEST(ParsePmemSpec, Schemes) {
  auto file = parse_pmem_spec("file:/mnt/pmem0,size=64G");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->scheme, PmemSpec::Scheme::file);
  EXPECT_EQ(file->path, "/mnt/pmem0");
  EXPECT_EQ(*file->size_bytes, 64ull << 30);

  auto nosize = parse_pmem_spec("file:/tmp");
  ASSERT_TRUE(nosize.has_value());
  EXPECT_FALSE(nosize->size_bytes.has_value());

  auto dax = parse_pmem_spec("devdax:/dev/dax0.0");
  ASSERT_TRUE(dax.has_value());
  EXPECT_EQ(dax->scheme, PmemSpec::Scheme::devdax);
  EXPECT_EQ(dax->path, "/dev/dax0.0");

  EXPECT_EQ(parse_pmem_spec("kmem")->scheme, PmemSpec::Scheme::kmem);
  EXPECT_EQ(parse_pmem_spec("none")->scheme, PmemSpec::Scheme::none);
}

TEST(ParsePmemSpec, RejectsBadText) {
  for (const char* text : {"", "foo:/x", "file:", "file:relative/dir", "file:/d,size=12Q",
                           "file:/d,size=0", "file:/d,color=red", "devdax:/dev/dax0.0,size=1G",
                           "kmemx", "NONE"}) {
    auto r = parse_pmem_spec(text);
    ASSERT_FALSE(r.has_value()) << "accepted '" << text << "'";
    EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  }
  EXPECT_NE(parse_pmem_spec("foo:/x").status().message().find("file:/dir"), std::string::npos);
}

TEST(ConfigFromEnv, DefaultsWhenUnset) {
  auto config = config_from_env(fake_env({}));
  ASSERT_TRUE(config.has_value());
  EXPECT_FALSE(config->dram_limit_bytes.has_value());
  EXPECT_EQ(config->pmem.scheme, PmemSpec::Scheme::temp_file);
  EXPECT_EQ(config->min_managed_bytes, 1u << 20);
  EXPECT_TRUE(config->stats_path.empty());
  EXPECT_TRUE(config->topology_xml.empty());
}

TEST(ConfigFromEnv, ReadsEveryVariable) {
  auto config = config_from_env(fake_env({{"TENSORTIER_DRAM_LIMIT", "2G"},
                                          {"TENSORTIER_PMEM", "file:/data,size=1T"},
                                          {"TENSORTIER_MIN_SIZE", "64K"},
                                          {"TENSORTIER_STATS", "-"},
                                          {"TENSORTIER_TOPOLOGY_XML", "/x.xml"}}));
  ASSERT_TRUE(config.has_value()) << config.status().message();
  EXPECT_EQ(*config->dram_limit_bytes, 2ull << 30);
  EXPECT_EQ(config->pmem.path, "/data");
  EXPECT_EQ(*config->pmem.size_bytes, 1ull << 40);
  EXPECT_EQ(config->min_managed_bytes, 64u << 10);
  EXPECT_EQ(config->stats_path, "-");
  EXPECT_EQ(config->topology_xml, "/x.xml");
}

TEST(ConfigFromEnv, ErrorNamesVariableTextAndAccepted) {
  struct Case {
    const char* var;
    const char* text;
  };
  for (Case c : {Case{"TENSORTIER_DRAM_LIMIT", "12Q"}, Case{"TENSORTIER_DRAM_LIMIT", "-1"},
                 Case{"TENSORTIER_DRAM_LIMIT", "0"}, Case{"TENSORTIER_PMEM", "bogus:/x"},
                 Case{"TENSORTIER_MIN_SIZE", "lots"}, Case{"TENSORTIER_STATS", ""},
                 Case{"TENSORTIER_TOPOLOGY_XML", " "}}) {
    auto config = config_from_env(fake_env({{c.var, c.text}}));
    ASSERT_FALSE(config.has_value()) << c.var << "=" << c.text;
    const std::string msg = config.status().message();
    EXPECT_EQ(msg.find(c.var), 0u) << msg;
    EXPECT_NE(msg.find(std::string("'") + c.text + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("accepted"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(FormatBytes, Units) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(64ull << 30), "64.0 GiB");
}

}  // namespace
}  // namespace tensortier
