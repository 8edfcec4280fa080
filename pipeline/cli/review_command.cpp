#include <signal.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/network_options.h"
#include "isolation/result_sender.h"
#include "medpipe/core/error.h"
#include "medpipe/review/review_server.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace medpipe::cli {

// Serves OUT's pages with sign-off on loopback (another address only with --bind) until SIGINT or SIGTERM.
int ReviewCommand(const std::vector<std::string>& args) {
  po::options_description options("review options");
  options.add_options()("outdir", po::value<std::string>()->required(), "output folder of `medpipe run`")(
      "port", po::value<uint16_t>()->default_value(0), "TCP port (0: a free one; the address is printed)")(
      "bind", po::value<std::string>(), "address to listen on instead of 127.0.0.1 (others on the network can then reach it)")(
      "organization", po::value<std::string>()->default_value("medpipe review"),
      "the reviewers' organisation, recorded with each decision (the verified SR's VerifyingOrganization)");
  po::positional_options_description positional;
  positional.add("outdir", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe review OUTDIR [--port P] [--bind ADDRESS]", options, positional, vm, exit_code))
    return exit_code;
  review::ServerOptions server_options;
  server_options.port = vm["port"].as<uint16_t>();
  server_options.organization = vm["organization"].as<std::string>();
  if (vm.count("bind")) {
    server_options.host = vm["bind"].as<std::string>();
    server_options.allow_non_loopback = true;
  }
  // The signals are taken by this thread alone (sigwait), never by the server's threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  review::ReviewServer server(vm["outdir"].as<std::string>(), server_options);
  std::cout << server.Url() << std::endl;
  std::thread serving([&] { server.Serve(); });
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.Stop();
  serving.join();
  return kExitOk;
}

// Sends the accepted studies of OUT (review.jsonl) to a PACS, each SR as verified by its reviewer.
int SendCommand(const std::vector<std::string>& args) {
  po::options_description options("send options");
  options.add_options()("outdir", po::value<std::string>()->required(), "output folder of `medpipe run`, reviewed")(
      "to", po::value<std::string>()->required(), "HOST:PORT:AET of the PACS");
  AddNetworkOptions(options);
  po::positional_options_description positional;
  positional.add("outdir", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe send OUTDIR --to HOST:PORT:AET", options, positional, vm, exit_code))
    return exit_code;
  const fs::path outdir = vm["outdir"].as<std::string>();
  const net::Peer peer = net::ParsePeer("--to", vm["to"].as<std::string>());
  const net::NetSettings settings = NetSettingsOf(vm);
  std::error_code ec;
  if (!fs::is_directory(outdir / "studies", ec)) throw IoError((outdir / "studies").string(), "is not there: no batch in OUT");
  ResultSender sender(peer, settings, outdir / "studies", outdir / "sent.jsonl", true);
  size_t studies = 0;
  for (const auto& entry : fs::directory_iterator(outdir / "studies")) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.front() == '.') continue;
    sender.Send(name);
    ++studies;
  }
  const size_t failed = sender.Finish();
  std::cout << studies << " studies looked at, accepted ones sent to " << peer.Describe() << ", " << failed
            << " failed (sent.jsonl)\n";
  return failed ? kExitSomeFailed : kExitOk;
}

}  // namespace medpipe::cli
