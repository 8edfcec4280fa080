// medpipe listen: a C-STORE SCP that files what a PACS or modality sends into OUT/incoming/ and runs
// the pipeline (a `medpipe run` child process per study, so a crash there never takes the listener
// down) on each study once no object of it arrived for --quiet-seconds.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "child_process.h"
#include "commands.h"
#include "medpipe/core/error.h"
#include "medpipe/core/log.h"
#include "medpipe/net/storage_server.h"
#include "network_options.h"
#include "stop_signal.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

using Clock = net::Inbox::Clock;

// Runs `medpipe ARGS` as a child process and returns its exit code; a stop signal to this process
// is passed on to it once, so that it finishes its study and stops.
int RunMedpipe(const std::vector<std::string>& args) {
  std::vector<std::string> argv_text = {"medpipe"};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = ForkChild();
  if (child == 0) {
    ::execv("/proc/self/exe", argv.data());
    ::_exit(kExitCannotStart);
  }
  bool passed_on = false;
  int status = 0;
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (StopRequested() && !passed_on) passed_on = ::kill(child, SIGTERM) == 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitCannotStart;
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

// Decides when a study is complete: the moment its last object arrived, for every study not run
// since. Studies already in the inbox when the listener starts count as arriving then.
class QuietStudies {
 public:
  QuietStudies(const fs::path& inbox_root, double quiet_s) : quiet_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(quiet_s))) {
    for (const auto& entry : fs::directory_iterator(inbox_root))
      if (entry.is_directory() && entry.path().filename().string()[0] != '.') waiting_[entry.path().filename()] = Clock::now();
  }

  // The study that has been quiet longest, if any has been quiet long enough; it counts as run from now.
  std::optional<std::string> NextQuiet(const std::map<std::string, Clock::time_point>& arrivals) {
    for (const auto& [id, arrived] : arrivals)
      if (!run_at_.count(id) || arrived > run_at_[id]) waiting_[id] = std::max(waiting_[id], arrived);
    const auto now = Clock::now();
    std::optional<std::string> next;
    for (const auto& [id, arrived] : waiting_)
      if (now - arrived >= quiet_ && (!next || arrived < waiting_[*next])) next = id;
    if (next) {
      waiting_.erase(*next);
      run_at_[*next] = now;
    }
    return next;
  }

 private:
  Clock::duration quiet_;
  std::map<std::string, Clock::time_point> waiting_;
  std::map<std::string, Clock::time_point> run_at_;
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
      ("max-associations", po::value<unsigned>()->default_value(8), "associations served at once; more are refused as busy");
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
  const unsigned port = vm["port"].as<unsigned>();
  if (port < 1 || port > 65535) throw ConfigError("--port", "must be 1-65535");
  server_settings.port = static_cast<uint16_t>(port);
  if (vm.count("allow-aet"))
    for (const auto& aet : vm["allow-aet"].as<std::vector<std::string>>()) server_settings.allowed_callers.insert(net::CheckAeTitle("--allow-aet", aet));
  const double quiet_s = vm["quiet-seconds"].as<double>();
  if (!(quiet_s >= 0)) throw ConfigError("--quiet-seconds", "must be 0 or more");
  const fs::path out = vm["out"].as<std::string>();
  fs::create_directories(out);
  if (const int check = CheckRunOptions(out, run_options)) return check;

  net::Inbox inbox(out / "incoming");
  net::StorageServer server(server_settings, inbox);
  InstallStopHandlers();
  std::string server_failure;
  std::atomic<bool> server_ended{false};
  std::thread serving([&] {
    try {
      server.Serve();
    } catch (const std::exception& error) {
      server_failure = error.what();
    }
    server_ended = true;
  });
  Log(LogLevel::Info, "listening as " + server_settings.aet + " on port " + std::to_string(port) + "; a study runs after " +
                          std::to_string(quiet_s) + " s without a new object");
  QuietStudies studies(inbox.Root(), quiet_s);
  while (!StopRequested() && !server_ended) {
    if (const auto study = studies.NextQuiet(inbox.LastArrivals())) {
      Log(LogLevel::Info, "study " + *study + " complete: running the pipeline");
      std::vector<std::string> run_args = {"run", (inbox.Root() / *study).string(), out.string()};
      run_args.insert(run_args.end(), run_options.begin(), run_options.end());
      const int exit_code = RunMedpipe(run_args);
      if (exit_code != kExitOk)
        Log(LogLevel::Error, "study " + *study + ": the pipeline ended with exit code " + std::to_string(exit_code) +
                                 " (see OUT/studies/" + *study + "/result.json and the log above)");
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  server.Stop();
  serving.join();
  if (!server_failure.empty()) {
    Log(LogLevel::Error, "the DICOM listener failed: " + server_failure);
    return kExitCannotStart;
  }
  Log(LogLevel::Info, "stopped; " + std::to_string(inbox.Accepted()) + " objects received");
  return kExitOk;
}

}  // namespace medpipe::cli
