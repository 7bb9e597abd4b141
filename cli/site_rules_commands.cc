// camfleet site rules SITE [--min-charge N] [--loan 12h] [--return-on-dock true|false]
//                          [--shift 8h] [--reserve 1h]
// Without flags it shows the rules; with flags it changes only those (an update mask), and the
// site's docks get them with their next site view (pushed at once to connected docks).

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace camfleet::cli {
namespace {

using Stub = v1::MonitoringService::Stub;

std::string DurationText(const google::protobuf::Duration& d) {
  const absl::Duration v = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  return v == absl::ZeroDuration() ? "0" : HumanizeDuration(v);
}

std::string RulesRecord(const v1::SiteRules& r) {
  const v1::CheckoutRules& rules = r.rules();
  return RenderRecord(
      {{"site", r.site_code()},
       {"min charge", absl::StrCat(rules.minimum_battery_percent(), "%")},
       {"loan", DurationText(rules.checkout_duration())},
       {"return on dock", rules.return_on_dock() ? "yes" : "no"},
       {"shift", DurationText(rules.shift())},
       {"reserve", DurationText(rules.reserve())},
       {"set", r.defaults() ? "defaults (never set)"
                            : absl::StrCat(FormatTimestamp(r.update_time(), r.has_update_time()),
                                           " by ", r.updated_by())}});
}

// A duration flag: "0" or a ParseDuration form.
CLI::Validator DurationOrZero() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text == "0") return "";
        absl::StatusOr<absl::Duration> d = ParseDuration(text);
        return d.ok() ? "" : std::string(d.status().message());
      },
      "");
}

google::protobuf::Duration ToProtoDuration(const std::string& text) {
  google::protobuf::Duration out;
  if (text == "0") return out;
  absl::StatusOr<absl::Duration> d = ParseDuration(text);  // checked while parsing
  if (d.ok()) out.set_seconds(absl::ToInt64Seconds(*d));
  return out;
}

}  // namespace

void AddSiteRulesCommand(CLI::App* site, Action* selected) {
  struct Args {
    std::string code;
    std::optional<int> min_charge;
    std::optional<std::string> loan;
    std::optional<bool> return_on_dock;
    std::optional<std::string> shift;
    std::optional<std::string> reserve;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = site->add_subcommand(
      "rules", "Show a site's check-out rules, or change those given as flags");
  cmd->add_option("SITE", args->code, "Site code")->required();
  cmd->add_option("--min-charge", args->min_charge,
                  "Lowest battery charge (%) a camera may leave the dock with")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--loan", args->loan, "How long a check-out lasts before it is overdue (12h)")
      ->type_name("DURATION")
      ->check(DurationOrZero());
  cmd->add_option("--return-on-dock", args->return_on_dock,
                  "Whether docking an issued camera returns it (true|false)");
  cmd->add_option("--shift", args->shift,
                  "Length of a shift, for the worn-battery runtime rule (8h)")
      ->type_name("DURATION")
      ->check(DurationOrZero());
  cmd->add_option("--reserve", args->reserve,
                  "Runtime a camera must have left after a shift (1h, or 0)")
      ->type_name("DURATION")
      ->check(DurationOrZero());
  SetAction(cmd, selected, [args](Session& s) {
    v1::SetSiteRulesRequest set;
    set.set_site_code(args->code);
    v1::CheckoutRules* r = set.mutable_rules();
    google::protobuf::FieldMask* mask = set.mutable_update_mask();
    if (args->min_charge.has_value()) {
      r->set_minimum_battery_percent(static_cast<uint32_t>(*args->min_charge));
      mask->add_paths("minimum_battery_percent");
    }
    if (args->loan.has_value()) {
      *r->mutable_checkout_duration() = ToProtoDuration(*args->loan);
      mask->add_paths("checkout_duration");
    }
    if (args->return_on_dock.has_value()) {
      r->set_return_on_dock(*args->return_on_dock);
      mask->add_paths("return_on_dock");
    }
    if (args->shift.has_value()) {
      *r->mutable_shift() = ToProtoDuration(*args->shift);
      mask->add_paths("shift");
    }
    if (args->reserve.has_value()) {
      *r->mutable_reserve() = ToProtoDuration(*args->reserve);
      mask->add_paths("reserve");
    }
    if (mask->paths().empty()) {
      v1::GetSiteRulesRequest get;
      get.set_site_code(args->code);
      return Finish(
          s, s.client().Monitoring(&Stub::GetSiteRules, get),
          [&](const v1::GetSiteRulesResponse& resp) { s.out() << RulesRecord(resp.site_rules()); });
    }
    return Finish(s, s.client().Monitoring(&Stub::SetSiteRules, set),
                  [&](const v1::SetSiteRulesResponse& resp) {
                    s.out() << "rules of site " << resp.site_rules().site_code()
                            << " set; its docks get them with their next site view\n"
                            << RulesRecord(resp.site_rules());
                  });
  });
}

}  // namespace camfleet::cli
