#pragma once
// One closed-loop throughput run against a server's store, with what the store and the
// process did in the same window: commits and writes (group commit at work), the writer
// thread's time on and waiting for a CPU, the whole process's CPU, and the writer's COMMIT and
// statement times from a WriterProbe. Plus the tables both benchmarks print from them.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/closed_loop.h"
#include "bench/writer_probe.h"
#include "nlohmann/json.hpp"
#include "services/storage/store.h"

namespace camfleet::bench {

std::string Clients(int n);      // "1 client", "16 clients"
std::string Ms(double ms);       // "1.25"
std::string Rate(double per_s);  // "1234"
nlohmann::json LatencyJson(const LatencySummary& l);

struct ThroughputRun {
  std::string kind;
  int clients = 0;
  LoadResult load;
  storage::StoreStats store;   // commits, writes and syncs inside the window
  double writer_busy = 0;      // share of the window the store's writer thread was on a CPU
  double writer_runnable = 0;  // share it was ready to run but waiting for a CPU
  std::vector<StatementCost> statements;  // the writer's statements, costliest first
  double process_cpu = 0;   // CPU-seconds per second for the whole process (2.0 = 2 cores)
  WriterTotals writer;      // COMMIT and checkpoint time on the writer, inside the window
  int64_t write_bytes = 0;  // written to storage by the process inside the window
  // Time on a CPU inside the window by thread name ("store writer" for the store's writer;
  // gRPC names its own threads), nanoseconds.
  std::map<std::string, int64_t> thread_cpu;
  std::map<std::string, int> thread_count;  // threads under each name at the window's end
  // Mean number of the calls in flight found in each store stage (StoreStats' queued,
  // running, awaiting_sync, answering), sampled every millisecond of the window. The rest of
  // the `clients` calls were outside the store: in gRPC, the network or the client.
  struct Stages {
    double queued = 0, running = 0, awaiting_sync = 0, answering = 0;
  } stages;

  double avg_commit_ms() const;
  double in_commit() const;  // share of the window the writer spent in COMMIT
  double writes_per_commit() const;
  // Writes per fdatasync of the WAL: what one wait for the disk served.
  double writes_per_sync() const;
  // CPU time of the whole process per call that ended in the window, microseconds.
  double cpu_us_per_call() const;
  // The writer thread's CPU time per call, microseconds.
  double writer_cpu_us_per_call() const;
  nlohmann::json ToJson() const;
};

// Runs `callers` in a closed loop (see RunClosedLoop) and takes the store's, the writer's and
// the process's counters at the window's edges. `writer_tid` is the store's writer thread
// (WriterThreadId); `probe` must be installed on `store`. `thread_labels` names threads in
// thread_cpu whose own name says nothing (threads inherit the process's name).
ThroughputRun RunLoad(const std::string& kind, const std::vector<Caller*>& callers,
                      const LoadOptions& load, storage::Store& store, pid_t writer_tid,
                      WriterProbe& probe, const std::map<pid_t, std::string>& thread_labels = {});

// Runs of `kind`: clients, calls/s, latency, errors, commits, writes, writer busy, process cpu.
void PrintRuns(const std::vector<ThroughputRun>& runs, const std::string& kind);

// Where the writer's time went in the runs of `kind`. Per write: the window divided among the
// writes committed in it; "rest" is the writer's time outside SQL statements (the services'
// C++ between statements, completion callbacks, waiting for work).
void PrintWriterBreakdown(const std::vector<ThroughputRun>& runs, const std::string& kind);

// Where the calls in flight of the runs of `kind` spent their time: the mean count in each
// store stage and, by Little's law, the mean time a call spent there (count / calls per second).
void PrintStages(const std::vector<ThroughputRun>& runs, const std::string& kind);

// Microseconds on a CPU per call, by thread name, for the runs of `kinds` with `clients`.
void PrintThreadCpu(const std::vector<ThroughputRun>& runs, const std::vector<std::string>& kinds,
                    int clients);

// The writer's statements in one run, by total time, the `top` costliest.
void PrintStatementCosts(const ThroughputRun& r, size_t top);

// The run of `kind` with `clients`, or null.
const ThroughputRun* FindRun(const std::vector<ThroughputRun>& runs, const std::string& kind,
                             int clients);

}  // namespace camfleet::bench
