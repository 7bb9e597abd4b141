// The plaintext development guard resolves the address (issue 11, item 10): only loopback IPs,
// names that resolve only to loopback, and unix sockets; a name that merely starts with "127."
// or an address of the machine's network is refused. And who a caller is without a
// certificate: nobody with a role.

#include "services/rpc/loopback.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/rpc/identity.h"
#include "tests/testing/status_matchers.h"

namespace camfleet::rpc {
namespace {

using ::camfleet::testing::IsOk;
using ::camfleet::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LoopbackTest, LoopbackIpsNamesAndUnixSocketsAreAccepted) {
  for (const char* address : {"127.0.0.1:7443", "127.0.0.2:0", "[::1]:7443", "localhost:7443",
                              "unix:/run/camfleet.sock"}) {
    EXPECT_THAT(CheckLoopbackAddress(address), IsOk()) << address;
  }
}

TEST(LoopbackTest, EverythingElseIsRefusedNamingTheAddress) {
  for (const char* address :
       {"0.0.0.0:7443", "[::]:7443", "10.1.2.3:7443", "192.168.0.1:7443", "[::ffff:10.0.0.1]:1",
        "127.attacker.example:7443", "127.0.0.1.nip.io:7443", "7443", "unix:", ":7443"}) {
    EXPECT_THAT(CheckLoopbackAddress(address),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(address)))
        << address;
  }
}

TEST(LoopbackTest, AnAddressOutsideIsNamedInTheRefusal) {
  EXPECT_THAT(CheckLoopbackAddress("10.1.2.3:7443"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resolves to 10.1.2.3")));
}

TEST(IdentityTest, ACallerWithoutACertificateHasNoRole) {
  const Identity nobody;
  EXPECT_FALSE(nobody.role.has_value());
  EXPECT_FALSE(nobody.authenticated);
  EXPECT_EQ(nobody.actor(), "");
}

}  // namespace
}  // namespace camfleet::rpc
