#pragma once
// The gRPC edge of DockService, the machine side: enrollment and certificate renewal (over
// IdentityManager) and the long-lived Sync stream (over DockSyncManager). One class because
// gRPC registers a service once; it lives here, not in services/identity, so that identity
// does not depend on the sync stream.
//
// Sync is a callback-API bidi reactor that moves messages and nothing else: authenticate (role
// dock, from the certificate), hand the hello and each batch to DockSyncManager, write what it
// answers, convert its status once. One batch is in flight per stream (the next is read only
// once the ack is written), which is the stream's flow control. Shutdown() ends every open
// stream with UNAVAILABLE so that the server's shutdown does not wait for docks to hang up.
//
// Central changes reach idle docks: a pusher thread looks every DockSyncOptions::push_interval
// for a central change (DockSyncManager::CentralChangeSince) or a revocation, and then sends
// every open stream its site's fresh SiteView if it differs from the last one that stream got
// (and a newer CrlUpdate), without waiting for the dock to send anything.

#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "camfleet/v1/provisioning.grpc.pb.h"
#include "services/dock/dock_sync_manager.h"
#include "services/firmware/firmware_manager.h"
#include "services/identity/identity_manager.h"
#include "services/rpc/identity.h"

namespace camfleet::dock {

class SyncReactor;

class DockHandler final : public v1::DockService::CallbackService {
 public:
  // `firmware` serves DownloadRelease (services/firmware/release_download.h).
  DockHandler(identity::IdentityManager& identity, DockSyncManager& sync,
              firmware_service::FirmwareManager& firmware, const rpc::Authenticator& auth);
  ~DockHandler() override;

#define CAMFLEET_DOCK_RPC(Method)                                                              \
  grpc::ServerUnaryReactor* Method(grpc::CallbackServerContext* ctx,                           \
                                   const v1::Method##Request* req, v1::Method##Response* resp) \
      override;
  CAMFLEET_DOCK_RPC(EnrollDock)
  CAMFLEET_DOCK_RPC(RenewDockCertificate)
  CAMFLEET_DOCK_RPC(EnrollCamera)
  CAMFLEET_DOCK_RPC(RenewCameraCertificate)
#undef CAMFLEET_DOCK_RPC

  grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse>* Sync(
      grpc::CallbackServerContext* ctx) override;

  grpc::ServerWriteReactor<v1::DownloadReleaseResponse>* DownloadRelease(
      grpc::CallbackServerContext* ctx, const v1::DownloadReleaseRequest* req) override;

  // Ends every open Sync stream with UNAVAILABLE and refuses new ones; stops the pusher. Call
  // before the gRPC server's Shutdown.
  void Shutdown();

  // Distinct docks with a Sync stream open now (a dock that reconnects before its old stream
  // has ended counts once). For /metrics.
  int ConnectedDocks();

 private:
  void PushLoop();
  // One look for central changes; pushes what changed to the open streams.
  void PushOnce(int64_t& audit_mark, uint64_t& revocations);
  friend class SyncReactor;
  // Streams register while open so Shutdown can end them. Returns false after Shutdown.
  bool Register(SyncReactor* reactor);
  void Unregister(SyncReactor* reactor);

  identity::IdentityManager& identity_;
  DockSyncManager& sync_;
  firmware_service::FirmwareManager& firmware_;
  const rpc::Authenticator& auth_;
  absl::Mutex mu_;
  absl::flat_hash_set<SyncReactor*> open_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::CondVar stop_cv_;
  std::thread pusher_;
};

}  // namespace camfleet::dock
