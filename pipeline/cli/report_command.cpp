#include <iostream>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "medpipe/report/html_report.h"

namespace po = boost::program_options;

namespace medpipe::cli {

// Rebuilds results.csv, features.csv and report.html over every study in OUT: how shards that wrote into one
// output folder (or several runs over time) become one batch report.
int ReportCommand(const std::vector<std::string>& args) {
  po::options_description options("report options");
  options.add_options()("outdir", po::value<std::string>()->required(), "output folder of one or more `medpipe run`s");
  po::positional_options_description positional;
  positional.add("outdir", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe report OUTDIR", options, positional, vm, exit_code)) return exit_code;
  const std::filesystem::path outdir = vm["outdir"].as<std::string>();
  const size_t rows = report::WriteResultsCsv(outdir);
  const size_t studies = report::WriteHtmlReport(outdir);
  std::cout << studies << " studies, " << rows << " result rows: " << (outdir / "report.html").string() << ", "
            << (outdir / "results.csv").string() << "\n";
  return kExitOk;
}

}  // namespace medpipe::cli
