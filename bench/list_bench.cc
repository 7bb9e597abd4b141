#include "bench/list_bench.h"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/client_call.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace camfleet::bench {
namespace {

int TraceCameraQuery(unsigned type, void* ctx, void* p, void* x) {
  if (type != SQLITE_TRACE_PROFILE) return 0;
  auto* stmt = static_cast<sqlite3_stmt*>(p);
  const char* sql = sqlite3_sql(stmt);
  // Only the camera list itself, not the site/holder lookups before it.
  if (sql == nullptr || std::strstr(sql, "FROM cameras c") == nullptr ||
      std::strstr(sql, "ORDER BY c.serial") == nullptr) {
    return 0;
  }
  auto* out = static_cast<StatementProfile*>(ctx);
  out->sql = sql;
  out->nanos = *static_cast<int64_t*>(x);
  // Read and reset: the statement is cached and its counters add up across runs.
  out->vm_steps = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
  out->fullscan_steps = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
  out->sorts = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 1);
  out->autoindexes = sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_AUTOINDEX, 1);
  return 0;
}

}  // namespace

absl::StatusOr<ListResult> ListBench::Run(const ListCase& c) {
  ListResult r;
  r.name = c.name;
  // One untimed call to check the answer and warm the statement cache.
  v1::ListCamerasResponse first;
  RETURN_IF_ERROR(Call(c.request, &first));
  r.rows = first.cameras_size();
  r.has_next = !first.next_page_token().empty();
  std::vector<int64_t> api;
  for (int i = 0; i < api_iterations_; ++i) {
    v1::ListCamerasResponse resp;
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(Call(c.request, &resp));
    api.push_back(MonotonicNanos() - t);
  }
  r.api = Summarize(std::move(api));

  ASSIGN_OR_RETURN(storage::CameraFilter filter, Filter(c));
  std::vector<int64_t> sql;
  for (int i = 0; i < store_iterations_; ++i) {
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(store_.Read(
        [&](common::Database& db) { return storage::ListCameras(db, filter).status(); }));
    sql.push_back(MonotonicNanos() - t);
  }
  r.sql = Summarize(std::move(sql));
  RETURN_IF_ERROR(Explain(filter, r));
  return r;
}

absl::Status ListBench::Call(const v1::ListCamerasRequest& req, v1::ListCamerasResponse* resp) {
  auto ctx = NewContext("bench-lister");
  return FromGrpc(stub_.ListCameras(ctx.get(), req, resp));
}

absl::StatusOr<storage::CameraFilter> ListBench::Filter(const ListCase& c) {
  storage::CameraFilter f;
  f.state = c.request.state();
  f.model = c.request.model();
  if (c.request.has_not_seen_since()) {
    f.not_seen_since_us =
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(c.request.not_seen_since());
  }
  f.after_serial = c.after_serial;
  f.limit = kListPageSize + 1;
  absl::Status read = store_.Read([&](common::Database& db) -> absl::Status {
    if (!c.site_code.empty()) {
      ASSIGN_OR_RETURN(storage::SiteRow site, storage::FindSite(db, c.site_code));
      f.site_id = site.id;
    }
    if (!c.holder_badge.empty()) {
      ASSIGN_OR_RETURN(storage::HolderRow holder, storage::FindHolder(db, c.holder_badge));
      f.holder_id = holder.id;
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  return f;
}

absl::Status ListBench::Explain(const storage::CameraFilter& filter, ListResult& r) {
  return store_.Read([&](common::Database& db) -> absl::Status {
    StatementProfile profile;
    sqlite3_trace_v2(db.handle(), SQLITE_TRACE_PROFILE, &TraceCameraQuery, &profile);
    absl::Status s = storage::ListCameras(db, filter).status();
    if (s.ok()) s = storage::ListCameras(db, filter).status();
    sqlite3_trace_v2(db.handle(), 0, nullptr, nullptr);
    RETURN_IF_ERROR(s);
    r.profile = profile;
    if (profile.sql.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(common::Statement plan,
                     db.Prepare(absl::StrCat("EXPLAIN QUERY PLAN ", profile.sql)));
    std::map<int64_t, int> depth;
    while (true) {
      ASSIGN_OR_RETURN(bool row, plan.Step());
      if (!row) break;
      const int d = depth.count(plan.ColumnInt(1)) ? depth[plan.ColumnInt(1)] + 1 : 0;
      depth[plan.ColumnInt(0)] = d;
      r.plan.push_back(std::string(static_cast<size_t>(2 * d), ' ') + plan.ColumnText(3));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<DeepToken> WalkToPage(v1::FleetService::Stub& stub, int pages) {
  DeepToken out;
  v1::ListCamerasRequest req;
  req.set_page_size(kListPageSize);
  std::vector<int64_t> lat;
  for (int p = 1; p < pages; ++p) {
    v1::ListCamerasResponse resp;
    auto ctx = NewContext("bench-lister");
    const int64_t t = MonotonicNanos();
    RETURN_IF_ERROR(FromGrpc(stub.ListCameras(ctx.get(), req, &resp)));
    lat.push_back(MonotonicNanos() - t);
    if (resp.next_page_token().empty()) break;
    out.cursor = resp.cameras(resp.cameras_size() - 1).serial();
    out.token = resp.next_page_token();
    req.set_page_token(out.token);
    out.pages = p + 1;
  }
  out.walk = Summarize(std::move(lat));
  return out;
}

}  // namespace camfleet::bench
