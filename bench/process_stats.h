#pragma once
// What the kernel says about this process and the machine, read from /proc: the figures every
// benchmark prints beside its own so a reader can tell a slow run from a busy machine.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/storage/store.h"

namespace camfleet::bench {

pid_t CurrentThreadId();

// The store's writer thread, found by running a write on it (write functions run there).
// Errors: the store's.
absl::StatusOr<pid_t> WriterThreadId(storage::Store& store);

// From the scheduler's own accounting (nanoseconds): time a thread has spent on a CPU, and
// time it was ready to run but waiting for one. Zeros if the thread is gone.
struct ThreadSched {
  int64_t on_cpu = 0;
  int64_t waiting_for_cpu = 0;
};
ThreadSched ThreadSchedStat(pid_t tid);

// The thread that runs the store's write completions, found by running one (with the
// pipelined store a thread of its own; before, the writer). Errors: the write's.
absl::StatusOr<pid_t> CompletionThreadId(storage::Store& store);

// Bytes this process has caused to be written to storage (the WAL, checkpoints).
int64_t ProcessWriteBytes();

// User plus system CPU time of the whole process, nanoseconds.
int64_t ProcessCpuNanos();

// CPU time of the calling thread, nanoseconds (CLOCK_THREAD_CPUTIME_ID): what a step costs
// whatever else the machine is doing.
int64_t ThreadCpuNanos();

// Every thread of the process now: id, name (/proc/self/task/TID/comm) and time on a CPU.
struct ThreadCpu {
  pid_t tid = 0;
  std::string name;
  int64_t on_cpu = 0;  // nanoseconds
};
std::vector<ThreadCpu> ThreadsCpu();

// Resident memory of process `pid` (0: this one) from /proc/PID/status, bytes: now (VmRSS) and
// the peak since it started or since ResetPeakRss (VmHWM). Zeros if the process is gone.
struct ProcessMemory {
  int64_t rss = 0;
  int64_t peak_rss = 0;
  // Of rss: anonymous memory (the heap, thread stacks), file-backed pages mapped (the binary,
  // libraries, mmap'd files) and shared memory (SQLite's WAL index).
  int64_t rss_anon = 0;
  int64_t rss_file = 0;
  int64_t rss_shmem = 0;
};
ProcessMemory ReadProcessMemory(pid_t pid = 0);
// Starts the peak (VmHWM) of `pid` afresh from its current RSS (writes 5 to
// /proc/PID/clear_refs; needs the same user or root). False if the kernel refused.
bool ResetPeakRss(pid_t pid);

// Threads the process has now.
int ProcessThreadCount();

// The 1-minute load average: other work on the machine skews every figure, so it is printed.
double LoadAverage();
// All three load averages, as uptime prints them: "1.78, 1.65, 1.84".
std::string LoadAverages();

}  // namespace camfleet::bench
