// medpipe listen: a C-STORE SCP (in a receiving process of its own, receiver_process.h) that files
// what a PACS or modality sends into OUT/incoming/, and runs the pipeline (a `medpipe run` child
// process per study, so a crash there never takes the listener down) on each study once no object
// of it arrived for --quiet-seconds.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "batch/stop_signal.h"
#include "cli/commands.h"
#include "cli/network_options.h"
#include "cli/option_errors.h"
#include "isolation/child_process.h"
#include "isolation/receiver_process.h"
#include "medpipe/core/error.h"
#include "medpipe/core/log.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Runs `medpipe ARGS` as a child process and returns its exit code, calling WHILE_RUNNING every
// 100 ms meanwhile; a stop signal to this process is passed on to it once, so that it finishes its
// study and stops.
int RunMedpipe(const std::vector<std::string>& args, const std::function<void()>& while_running = [] {}) {
  std::vector<std::string> argv_text = {"medpipe"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    ::execv("/proc/self/exe", argv.data());
    ::_exit(kExitCannotStart);
  }
  bool passed_on = false;
  std::optional<ChildExit> ended;
  while (!(ended = child.TryWait())) {
    if (StopRequested() && !passed_on) passed_on = child.Signal(SIGTERM);
    while_running();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ended->Exited() ? ended->ExitCode() : kExitCannotStart;
}

// The run options must be right before anything is received: a dry run over an empty folder checks
// them and the models as `medpipe run` will.
int CheckRunOptions(const fs::path& out, const std::vector<std::string>& run_options) {
  const fs::path empty = out / "incoming" / ".options-check";
  fs::create_directories(empty);
  std::vector<std::string> args = {"run", empty.string(), out.string(), "--dry-run"};
  args.insert(args.end(), run_options.begin(), run_options.end());
  const int exit_code = RunMedpipe(args);
  fs::remove_all(empty);
  return exit_code;
}

// Decides when a study is complete: no object of it filed for the quiet period. Studies already in
// the inbox when the listener starts (received before a restart) count as arriving then.
class QuietStudies {
 public:
  QuietStudies(const fs::path& inbox_root, double quiet_s)
      : quiet_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(quiet_s))) {
    for (const auto& entry : fs::directory_iterator(inbox_root))
      if (entry.is_directory() && entry.path().filename().string()[0] != '.') Arrived(entry.path().filename());
  }

  void Arrived(const std::string& study_id) { last_arrival_[study_id] = Clock::now(); }

  // The study quiet the longest, if one has been quiet long enough; it waits no more (until an object of it arrives again).
  std::optional<std::string> NextQuiet() {
    const auto now = Clock::now();
    auto next = last_arrival_.end();
    for (auto it = last_arrival_.begin(); it != last_arrival_.end(); ++it)
      if (now - it->second >= quiet_ && (next == last_arrival_.end() || it->second < next->second)) next = it;
    if (next == last_arrival_.end()) return std::nullopt;
    const std::string study_id = next->first;
    last_arrival_.erase(next);
    return study_id;
  }

 private:
  Clock::duration quiet_;
  std::map<std::string, Clock::time_point> last_arrival_;
};

}  // namespace

int ListenCommand(const std::vector<std::string>& args) {
  po::options_description options("listen options (every other option is passed to `medpipe run`: --model, --send, ...)");
  options.add_options()
      ("help,h", "show this help")
      ("out", po::value<std::string>()->required(),
       "output folder: received objects in OUT/incoming/<study-id>/, results as `medpipe run INPUT OUT` writes them")
      ("port", po::value<unsigned>()->default_value(11112), "TCP port to accept associations on")
      ("allow-aet", po::value<std::vector<std::string>>()->composing(),
       "accept associations only from this calling AE title (repeatable); default: from any")
      ("quiet-seconds", po::value<double>()->default_value(30), "a study is complete once no object of it arrived for this long")
      ("max-associations", po::value<unsigned>()->default_value(8), "associations served at once; more are refused as busy")
      ("min-free-gib", po::value<double>()->default_value(2),
       "refuse objects (status A700, out of resources) while the output's disk has less free space than this")
      ("max-receiver-gib", po::value<double>()->default_value(1),
       "resident memory (GiB) at which the receiving process is replaced (DCMTK leaks on some association requests)");
  AddNetworkOptions(options);
  po::variables_map vm;
  std::vector<std::string> run_options;
  try {
    const auto parsed = po::command_line_parser(args).options(options).allow_unregistered().run();
    run_options = po::collect_unrecognized(parsed.options, po::include_positional);
    po::store(parsed, vm);
    if (vm.count("help")) {
      std::cout << "usage: medpipe listen --out OUT [--aet MEDPIPE --port 11112] [run options]\n" << options << "\n";
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& error) {
    std::cerr << "medpipe: " << error.what() << "\n" << options << "\n";
    return kExitUsage;
  }
  const net::NetSettings net_settings = NetSettingsOf(vm);
  net::ServerSettings server_settings;
  server_settings.aet = net_settings.own_aet;
  server_settings.timeout_s = net_settings.timeout_s;
  server_settings.max_associations = vm["max-associations"].as<unsigned>();
  const double min_free_gib = AtLeast("--min-free-gib", vm["min-free-gib"].as<double>(), 0.0, " GiB");
  server_settings.min_free_bytes = static_cast<uint64_t>(min_free_gib * (uint64_t{1} << 30));
  server_settings.port = PortOf(vm);
  if (vm.count("allow-aet"))
    for (const auto& aet : vm["allow-aet"].as<std::vector<std::string>>()) server_settings.allowed_callers.insert(net::CheckAeTitle("--allow-aet", aet));
  const double quiet_s = AtLeast("--quiet-seconds", vm["quiet-seconds"].as<double>(), 0.0, " seconds");
  const double max_receiver_gib = vm["max-receiver-gib"].as<double>();
  if (!(max_receiver_gib > 0)) throw OptionError("--max-receiver-gib", max_receiver_gib, "more than 0 GiB");
  const fs::path out = vm["out"].as<std::string>();
  fs::create_directories(out);
  if (const int check = CheckRunOptions(out, run_options)) return check;

  const fs::path inbox = out / "incoming";
  ReceiverProcess receiver(server_settings, inbox, static_cast<uint64_t>(max_receiver_gib * (uint64_t{1} << 30)));
  // Before the receiver answers: a stop sent as soon as it does (a test, a service manager) must find the
  // handler, not SIGTERM's default that ended the listener with 143 (seen once in CI).
  InstallStopHandlers();
  receiver.Start();
  Log(LogLevel::Info, "listening as " + server_settings.aet + " on port " + std::to_string(server_settings.port) +
                          "; a study runs after " + std::to_string(quiet_s) + " s without a new object");
  QuietStudies studies(inbox, quiet_s);
  const auto take_arrivals = [&] {
    for (const auto& study_id : receiver.Poll()) studies.Arrived(study_id);
  };
  while (!StopRequested()) {
    take_arrivals();
    if (const auto study = studies.NextQuiet()) {
      Log(LogLevel::Info, "study " + *study + " complete: running the pipeline");
      std::vector<std::string> run_args = {"run", (inbox / *study).string(), out.string()};
      run_args.insert(run_args.end(), run_options.begin(), run_options.end());
      const int exit_code = RunMedpipe(run_args, take_arrivals);
      if (exit_code != kExitOk)
        Log(LogLevel::Error, "study " + *study + ": the pipeline ended with exit code " + std::to_string(exit_code) +
                                 " (see OUT/studies/" + *study + "/result.json and the log above)");
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  receiver.Stop();
  Log(LogLevel::Info, "stopped; " + std::to_string(receiver.Filed()) + " objects received");
  return kExitOk;
}

}  // namespace medpipe::cli
