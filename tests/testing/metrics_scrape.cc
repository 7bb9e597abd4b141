#include "tests/testing/metrics_scrape.h"

#include <httplib.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/metrics.h"
#include "tests/testing/temp_dir.h"

namespace camfleet::testing {

absl::StatusOr<std::string> ScrapeMetrics(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result res = client.Get(path.c_str());
  if (!res) {
    return absl::UnavailableError(absl::StrCat("GET http://127.0.0.1:", port, path, " failed: ",
                                               httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::InternalError(
        absl::StrCat("GET ", path, " answered ", res->status, ": ", res->body));
  }
  const std::string type = res->get_header_value("Content-Type");
  if (type != common::kMetricsContentType) {
    return absl::InternalError(absl::StrCat("GET ", path, " answered Content-Type '", type, "'"));
  }
  return res->body;
}

std::map<std::string, double> ParseSamples(const std::string& exposition) {
  std::map<std::string, double> samples;
  for (absl::string_view line : absl::StrSplit(exposition, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos) return {};
    const absl::string_view text = line.substr(space + 1);
    if (text == "+Inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(text, &value)) {
      return {};
    }
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

double Sample(const std::map<std::string, double>& samples, const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? -1 : it->second;
}

bool PromtoolAvailable() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

absl::Status PromtoolCheckMetrics(const std::string& exposition) {
  TempDir dir;
  const std::string in = dir.File("scrape.txt");
  const std::string out = dir.File("promtool.out");
  {
    std::ofstream f(in, std::ios::binary);
    f << exposition;
    if (!f) return absl::InternalError(absl::StrCat("writing ", in));
  }
  const int rc =
      std::system(absl::StrCat("promtool check metrics < '", in, "' > '", out, "' 2>&1").c_str());
  std::ifstream f(out);
  std::stringstream said;
  said << f.rdbuf();
  if (rc == 0) return absl::OkStatus();
  const int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return absl::InvalidArgumentError(absl::StrCat("promtool check metrics exited ", code,
                                                 (code == 3 ? " (lint problems)" : ""), ": ",
                                                 said.str()));
}

}  // namespace camfleet::testing
