// Running the adallava binary from tests: exit code, stdout and stderr.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_util.h"

namespace adallava {

struct Result {
  int exit_code;
  std::string out, err;
};

inline std::string join_ids(const std::vector<int64_t>& ids) {
  std::string s;
  for (auto id : ids) {
    if (!s.empty()) s += ',';
    s += std::to_string(id);
  }
  return s;
}

inline Result run_cli(const std::string& args) {
  test::TempDir d;
  const std::string cmd = std::string(ADALLAVA_BINARY) + " " + args + " >" + d.file("out") + " 2>" + d.file("err");
  int status = std::system(cmd.c_str());
  Result r{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), test::read_file(d.file("out")),
           test::read_file(d.file("err"))};
  return r;
}

inline void expect_clean_error(const Result& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

}  // namespace adallava
