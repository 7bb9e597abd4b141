#include "services/dock/dock_sync_manager.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "services/dock/batch_applier.h"
#include "services/dock/item_validation.h"
#include "services/rollout/rollout_engine.h"
#include "services/rpc/validation.h"
#include "services/storage/alert_repository.h"
#include "services/storage/audit_log.h"
#include "services/storage/fleet_repository.h"
#include "services/storage/health_repository.h"
#include "services/storage/identity_repository.h"

namespace camfleet::dock {
namespace {

using google::protobuf::util::TimeUtil;
using storage::WriteTx;

}  // namespace

void DockSyncManager::Open(const rpc::Identity& who, const v1::SyncHello& hello,
                           Done<OpenResult> done) {
  if (hello.protocol_version() < 1) {
    return done(absl::FailedPreconditionError(absl::StrCat("hello.protocol_version ",
                                                           hello.protocol_version(),
                                                           " is not supported; this server "
                                                           "speaks 1 to ",
                                                           kProtocolVersion)));
  }
  const std::string& epoch = hello.epoch();
  if (epoch.size() < 16 || epoch.size() > 64 ||
      !std::all_of(epoch.begin(), epoch.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
      })) {
    return done(absl::InvalidArgumentError(
        "hello.epoch must be 16-64 characters of [0-9a-f] (made when the outbox was created)"));
  }
  if (absl::Status s = ValidateVersion("hello.agent_version", hello.agent_version()); !s.ok()) {
    return done(s);
  }
  if (hello.slots_size() > 256) {
    return done(
        Invalid("hello.slots", absl::StrCat("has ", hello.slots_size(), " entries; at most 256")));
  }
  auto result = std::make_shared<OpenResult>();
  result->session.who = who;
  result->session.epoch = epoch;
  result->session.known_crl_number = hello.crl_number();
  const std::string generation = generation_;
  const uint32_t max_batch = options_.max_batch_items;
  store_.Write(
      [result, hello, generation, max_batch](WriteTx& tx) -> absl::Status {
        DockSession& session = result->session;
        absl::StatusOr<storage::DockRow> dock = storage::FindDock(tx.db(), session.who.name);
        if (absl::IsNotFound(dock.status()) || (dock.ok() && dock->revoked)) {
          return absl::PermissionDeniedError(
              absl::StrCat("dock '", session.who.name, "' is not enrolled or is revoked"));
        }
        RETURN_IF_ERROR(dock.status());
        session.dock_row = dock->id;
        session.site_id = dock->site_id;
        session.site_code = dock->dock.site_code();
        session.slot_count = dock->dock.slot_count();
        std::vector<v1::SlotOccupant> occupants;
        for (const v1::SlotOccupant& o : hello.slots()) {
          RETURN_IF_ERROR(ValidateSlot("hello.slots.slot", o.slot(), session.slot_count));
          RETURN_IF_ERROR(rpc::ValidateSerial("hello.slots.serial", o.serial()));
          occupants.push_back(o);
        }
        RETURN_IF_ERROR(
            storage::PutDockReport(tx, dock->id,
                                   {hello.epoch(), hello.agent_version(), hello.backlog_items(),
                                    hello.backlog_bytes(), hello.crl_number()}));
        RETURN_IF_ERROR(storage::ReplaceDockSlots(tx, dock->id, occupants));
        ASSIGN_OR_RETURN(storage::SyncPositions pos,
                         storage::GetSyncPositions(tx.db(), dock->id, session.epoch));
        v1::SyncWelcome& w = result->welcome;
        w.set_protocol_version(std::min(hello.protocol_version(), kProtocolVersion));
        w.set_generation(generation);
        w.set_epoch(session.epoch);
        w.set_custody_applied(pos.custody);
        w.set_telemetry_applied(pos.telemetry);
        *w.mutable_server_time() = TimeUtil::MicrosecondsToTimestamp(common::ToMicros(tx.now()));
        w.set_max_batch_items(max_batch);
        return absl::OkStatus();
      },
      [result, done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) return done(s);
        done(std::move(*result));
      });
}

void DockSyncManager::ApplyBatch(const DockSession& session, const v1::OutboxBatch& batch,
                                 Done<BatchResult> done) {
  if (static_cast<size_t>(batch.items_size()) > options_.max_batch_items) {
    return done(absl::InvalidArgumentError(absl::StrCat("batch has ", batch.items_size(),
                                                        " items; the welcome allows at most ",
                                                        options_.max_batch_items)));
  }
  auto result = std::make_shared<BatchResult>();
  auto shared_batch = std::make_shared<v1::OutboxBatch>(batch);
  store_.Write(
      [this, result, shared_batch, &session](WriteTx& tx) -> absl::Status {
        BatchApplier applier(tx, session, options_, revoked_);
        return applier.Apply(*shared_batch, *result);
      },
      [result, done = std::move(done)](absl::Status s) mutable {
        if (!s.ok()) return done(s);
        done(std::move(*result));
      });
}

absl::StatusOr<v1::SiteView> DockSyncManager::BuildSiteView(const DockSession& session) {
  v1::SiteView view;
  view.set_site_code(session.site_code);
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<v1::SiteCamera> cameras,
                     storage::ListSiteCameras(db, session.site_id));
    absl::flat_hash_map<std::string, std::string> held;  // badge -> serial
    for (v1::SiteCamera& c : cameras) {
      if (!c.holder_badge().empty()) held[c.holder_badge()] = c.serial();
      *view.add_cameras() = std::move(c);
    }
    std::string after;
    while (true) {
      ASSIGN_OR_RETURN(std::vector<v1::Holder> holders,
                       storage::ListHolders(db, session.site_id, after, 1000));
      for (const v1::Holder& h : holders) {
        v1::SiteHolder* sh = view.add_holders();
        sh->set_badge(h.badge());
        sh->set_name(h.name());
        if (auto it = held.find(h.badge()); it != held.end()) sh->set_holds_serial(it->second);
      }
      if (holders.size() < 1000) break;
      after = holders.back().badge();
    }
    ASSIGN_OR_RETURN(storage::SiteRules rules, storage::GetSiteRules(db, session.site_id));
    v1::CheckoutRules* r = view.mutable_rules();
    r->set_minimum_battery_percent(static_cast<uint32_t>(rules.minimum_battery_percent));
    *r->mutable_checkout_duration() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.checkout_duration));
    r->set_return_on_dock(rules.return_on_dock);
    *r->mutable_shift() = TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.shift));
    *r->mutable_reserve() =
        TimeUtil::MicrosecondsToDuration(absl::ToInt64Microseconds(rules.reserve));
    return absl::OkStatus();
  }));
  *view.mutable_view_time() =
      TimeUtil::MicrosecondsToTimestamp(common::ToMicros(store_.clock().Now()));
  return view;
}

absl::StatusOr<v1::FirmwarePlan> DockSyncManager::BuildFirmwarePlan(
    const DockSession& session, std::vector<storage::PlannedUnit>* unsent, bool* ever) {
  v1::FirmwarePlan plan;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(plan, rollout::BuildPlan(db, session.site_id, store_.clock().Now(), unsent));
    if (ever != nullptr) {
      ASSIGN_OR_RETURN(*ever, storage::SiteHasRollouts(db, session.site_id));
    }
    return absl::OkStatus();
  }));
  return plan;
}

void DockSyncManager::MarkJobsSent(std::vector<storage::PlannedUnit> units) {
  if (units.empty()) return;
  store_.Write(
      [units = std::move(units)](WriteTx& tx) { return storage::MarkUnitsSent(tx, units); },
      [](absl::Status s) {
        if (!s.ok()) common::LogWarning("recording firmware jobs as sent: ", s.ToString());
      });
}

void DockSyncManager::NewerCrl(int64_t have, Done<std::optional<v1::CrlUpdate>> done) {
  identity_.GetCrl({}, [have,
                        done = std::move(done)](absl::StatusOr<v1::GetCrlResponse> crl) mutable {
    if (!crl.ok()) return done(crl.status());
    if (crl->crl_number() <= have) return done(std::optional<v1::CrlUpdate>());
    v1::CrlUpdate update;
    update.set_crl_number(crl->crl_number());
    update.set_crl_pem(crl->crl_pem());
    *update.mutable_revoked_factory_key_fingerprints() = crl->revoked_factory_key_fingerprints();
    done(std::optional<v1::CrlUpdate>(std::move(update)));
  });
}

absl::StatusOr<bool> DockSyncManager::CentralChangeSince(int64_t& mark) {
  // Actions that never change what a dock is told: the per-batch record of a stream, alerts
  // raised and acknowledged, rejected items. Everything else (a camera marked lost, retired or
  // faulty, a holder created or changed, a certificate revoked, rules set, a dock's own
  // check-out seen by its neighbours) may; the view is compared before it is sent anyway.
  static const std::vector<std::string> kIgnored = {"dock.sync", "alert.raise", "alert.acknowledge",
                                                    "dock.item.reject"};
  bool changed = false;
  RETURN_IF_ERROR(store_.Read([&](common::Database& db) -> absl::Status {
    ASSIGN_OR_RETURN(int64_t latest, storage::LatestAuditSeq(db));
    if (latest > mark) {
      ASSIGN_OR_RETURN(changed, storage::AuditActionsBetween(db, mark, latest, kIgnored));
      mark = latest;
    }
    return absl::OkStatus();
  }));
  return changed;
}

v1::ServerTime DockSyncManager::Now() const {
  v1::ServerTime t;
  *t.mutable_server_time() =
      TimeUtil::MicrosecondsToTimestamp(common::ToMicros(store_.clock().Now()));
  return t;
}

}  // namespace camfleet::dock
