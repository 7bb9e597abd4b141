#include "bench/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace camfleet::bench {

pid_t CurrentThreadId() { return static_cast<pid_t>(syscall(SYS_gettid)); }

absl::StatusOr<pid_t> WriterThreadId(storage::Store& store) {
  pid_t tid = 0;
  absl::Status s = store.WriteAndWait([&tid](storage::WriteTx&) {
    tid = CurrentThreadId();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return tid;
}

absl::StatusOr<pid_t> CompletionThreadId(storage::Store& store) {
  absl::Notification done;
  pid_t tid = 0;
  absl::Status result;
  store.Write([](storage::WriteTx&) { return absl::OkStatus(); },
              [&](absl::Status s) {
                tid = CurrentThreadId();
                result = std::move(s);
                done.Notify();
              });
  done.WaitForNotification();
  if (!result.ok()) return result;
  return tid;
}

ThreadSched ThreadSchedStat(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/schedstat"));
  ThreadSched s;
  in >> s.on_cpu >> s.waiting_for_cpu;
  return in ? s : ThreadSched{};
}

int64_t ProcessWriteBytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (in >> key >> value) {
    if (key == "write_bytes:") return value;
  }
  return 0;
}

int64_t ProcessCpuNanos() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](const timeval& tv) {
    return static_cast<int64_t>(tv.tv_sec) * 1000000000 + static_cast<int64_t>(tv.tv_usec) * 1000;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + static_cast<int64_t>(ts.tv_nsec);
}

std::vector<ThreadCpu> ThreadsCpu() {
  std::vector<ThreadCpu> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    ThreadCpu t;
    t.tid = static_cast<pid_t>(std::atoi(e->d_name));
    std::ifstream comm(absl::StrCat("/proc/self/task/", e->d_name, "/comm"));
    std::getline(comm, t.name);
    t.on_cpu = ThreadSchedStat(t.tid).on_cpu;
    out.push_back(std::move(t));
  }
  closedir(dir);
  return out;
}

int ProcessThreadCount() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  int n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one_minute = 0;
  in >> one_minute;
  return one_minute;
}

std::string LoadAverages() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, ", ", five, ", ", fifteen);
}

ProcessMemory ReadProcessMemory(pid_t pid) {
  std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                            : absl::StrCat("/proc/", pid, "/status"));
  ProcessMemory m;
  std::string key;
  while (in >> key) {
    int64_t kb = 0;
    if (key == "VmRSS:" && in >> kb) m.rss = kb * 1024;
    if (key == "VmHWM:" && in >> kb) m.peak_rss = kb * 1024;
    if (key == "RssAnon:" && in >> kb) m.rss_anon = kb * 1024;
    if (key == "RssFile:" && in >> kb) m.rss_file = kb * 1024;
    if (key == "RssShmem:" && in >> kb) m.rss_shmem = kb * 1024;
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return m;
}

bool ResetPeakRss(pid_t pid) {
  std::ofstream out(absl::StrCat("/proc/", pid, "/clear_refs"));
  out << "5\n";
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace camfleet::bench
