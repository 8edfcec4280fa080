// medpipe fetch: what a scheduler calls to bring a night's studies from the PACS: C-FIND lists the
// studies (by UID or date range), C-GET (or C-MOVE to medpipe's own AE title with --port) retrieves
// each into OUT/<study-id>/, ready for `medpipe run OUT RESULTS`. Prints one JSON summary.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/network_options.h"
#include "cli/option_errors.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/net/query_retrieve.h"
#include "medpipe/net/storage_server.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

size_t FilesIn(const fs::path& folder) {
  std::error_code ec;
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(folder, ec)) count += entry.is_regular_file();
  return count;
}

}  // namespace

int FetchCommand(const std::vector<std::string>& args) {
  po::options_description options("fetch options");
  options.add_options()
      ("help,h", "show this help")
      ("pacs", po::value<std::string>()->required(), "HOST:PORT of the PACS")
      ("aec", po::value<std::string>()->required(), "the PACS's AE title")
      ("study", po::value<std::vector<std::string>>()->composing(), "a StudyInstanceUID to retrieve (repeatable)")
      ("date", po::value<std::string>(), "retrieve every study of these days: YYYYMMDD or YYYYMMDD-YYYYMMDD")
      ("out", po::value<std::string>()->required(), "folder for the studies: OUT/<study-id>/<object>.dcm")
      ("port", po::value<unsigned>(),
       "retrieve by C-MOVE to --aet, receiving on this port (the PACS must know --aet with this host and port); "
       "without it, by C-GET");
  AddNetworkOptions(options);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(options).run(), vm);
    if (vm.count("help")) {
      std::cout << "usage: medpipe fetch --pacs HOST:PORT --aec AET (--study UID | --date YYYYMMDD[-YYYYMMDD]) --out DIR\n"
                << options << "\n";
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& error) {
    std::cerr << "medpipe: " << error.what() << "\n" << options << "\n";
    return kExitUsage;
  }
  const net::Peer pacs = net::ParsePeer("--pacs/--aec", vm["pacs"].as<std::string>() + ":" + vm["aec"].as<std::string>());
  const net::NetSettings settings = NetSettingsOf(vm);
  std::vector<net::StudyQuery> queries;
  if (vm.count("study"))
    for (const auto& uid : vm["study"].as<std::vector<std::string>>()) queries.push_back({uid, ""});
  if (vm.count("date")) queries.push_back({"", net::CheckDateRange("--date", vm["date"].as<std::string>())});
  if (vm.count("study") && vm.count("date"))
    throw ConfigError("--study/--date", "both given (--study " + queries.front().study_uid + ", --date " +
                                            queries.back().dates + "); expected one of them: studies or a date range");
  if (queries.empty())
    throw ConfigError("--study/--date",
                      "neither given; say which studies: --study UID (repeatable) or --date YYYYMMDD[-YYYYMMDD]");
  const std::optional<uint16_t> move_port = vm.count("port") ? std::optional<uint16_t>(PortOf(vm)) : std::nullopt;

  std::vector<net::FoundStudy> studies;
  try {
    for (const auto& query : queries) {
      const auto found = net::FindStudies(pacs, settings, query);
      if (found.empty() && !query.study_uid.empty()) Log(LogLevel::Warning, "study " + query.study_uid + " is not on " + pacs.Describe());
      studies.insert(studies.end(), found.begin(), found.end());
    }
  } catch (const NetworkError& error) {
    Log(LogLevel::Error, error.what());
    return kExitCannotStart;
  }
  net::Inbox inbox(vm["out"].as<std::string>());
  std::optional<net::StorageServer> destination;  // of C-MOVE, serving while the fetch runs
  if (move_port) {
    net::ServerSettings server;
    server.port = *move_port;
    server.aet = settings.own_aet;
    server.allowed_callers = {pacs.aet};
    server.timeout_s = settings.timeout_s;
    destination.emplace(server, inbox).Start();
  }
  nlohmann::json summary = nlohmann::json::array();
  bool complete = true;
  for (const auto& study : studies) {
    const std::string id = ShortId(study.uid);
    nlohmann::json line = {{"study_instance_uid", study.uid}, {"study_id", id}, {"study_date", study.date}};
    try {
      const net::Retrieval retrieval =
          destination ? net::MoveStudy(pacs, settings, study.uid) : net::GetStudy(pacs, settings, study.uid, inbox);
      line["retrieved"] = retrieval.completed;
      line["failed"] = retrieval.failed;
      if (!retrieval.reasons.empty()) line["reasons"] = retrieval.reasons;
      complete = complete && retrieval.failed == 0;
    } catch (const NetworkError& error) {
      line["error"] = error.what();
      complete = false;
      Log(LogLevel::Error, error.what());
    }
    line["files"] = FilesIn(inbox.Root() / id);
    line["folder"] = (inbox.Root() / id).string();
    summary.push_back(line);
    Log(LogLevel::Info, "study " + id + ": " + std::to_string(line["files"].get<size_t>()) + " objects in " + line["folder"].get<std::string>());
  }
  if (destination && !destination->Failure().empty())
    Log(LogLevel::Error, "the C-MOVE destination failed: " + destination->Failure());
  std::cout << JsonText({{"pacs", pacs.Describe()}, {"studies", summary}}) << "\n";
  return complete ? kExitOk : kExitSomeFailed;
}

}  // namespace medpipe::cli
