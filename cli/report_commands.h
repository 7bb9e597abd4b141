#pragma once
// `camfleet report NAME` and `camfleet stock-check SITE|due|interval` (ReportService).

#include "CLI/CLI.hpp"
#include "cli/session.h"

namespace camfleet::cli {

void AddReportCommands(CLI::App& app, Action* selected);

}  // namespace camfleet::cli
