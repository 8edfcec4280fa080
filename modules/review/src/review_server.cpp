#include "medpipe/review/review_server.h"

#include <arpa/inet.h>
#include <dcmtk/dcmdata/dcvrpn.h>
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <mutex>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/core/log.h"
#include "medpipe/core/study_result.h"
#include "medpipe/review/review_ledger.h"
#include "medpipe/review/study_review.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::review {
namespace {

constexpr size_t kMaxReviewer = 128;
constexpr size_t kMaxComment = 4000;
constexpr size_t kMaxBody = 64 * 1024;

std::string RandomToken() {
  unsigned char bytes[24];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw InternalError("review token", "OpenSSL's RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token;
  for (const unsigned char byte : bytes) token += {kHex[byte >> 4], kHex[byte & 15]};
  return token;
}

bool SameToken(const std::string& given, const std::string& token) {
  return given.size() == token.size() && CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

// The value of cookie NAME in a Cookie header.
std::string CookieValue(const std::string& header, const std::string& name) {
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(';', start);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(start, end - start);
    pair.erase(0, pair.find_first_not_of(' '));
    if (pair.rfind(name + "=", 0) == 0) return pair.substr(name.size() + 1);
    start = end + 1;
  }
  return "";
}

const char* ContentType(const fs::path& path) {
  const std::string name = path.filename().string();
  const auto ends = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".png")) return "image/png";
  if (ends(".json") || ends(".jsonl")) return "application/json";
  if (ends(".csv")) return "text/csv; charset=utf-8";
  if (ends(".dcm")) return "application/dicom";
  if (ends(".gz")) return "application/gzip";
  return "application/octet-stream";
}

// Text a person typed: no control characters but line breaks in a comment.
bool IsPlainText(const std::string& text, bool multiline) {
  return std::none_of(text.begin(), text.end(), [&](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) || byte == 0x7f;
  });
}

void Answer(httplib::Response& response, int status, const json& body) {
  response.status = status;
  response.set_content(body.dump(), "application/json");
}

}  // namespace

bool IsLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr address{};
  return ::inet_pton(AF_INET, host.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

struct ReviewServer::Impl {
  fs::path outdir;
  ServerOptions options;
  httplib::Server server;
  std::mutex ledger_mutex;
  int port = 0;
  std::string cookie;

  // The canonical path of the file REQUEST_PATH names under OUT, or empty when it names none there.
  fs::path FileOf(const std::string& request_path) const {
    if (request_path.empty() || request_path.front() != '/' || request_path.find('\0') != std::string::npos) return {};
    const fs::path relative = fs::path(request_path.substr(1)).lexically_normal();
    if (relative.empty() || relative.is_absolute()) return {};
    for (const auto& part : relative) {
      const std::string name = part.string();
      if (name.empty() || name.front() == '.') return {};  // "..", hidden and staging folders
    }
    std::error_code ec;
    const fs::path file = fs::canonical(outdir / relative, ec);
    if (ec || !fs::is_regular_file(file, ec)) return {};
    const auto mismatch = std::mismatch(outdir.begin(), outdir.end(), file.begin(), file.end());
    return mismatch.first == outdir.end() ? file : fs::path();  // a link leading out of OUT
  }

  // The study folder named STUDY_ID, when it is one.
  std::optional<fs::path> StudyFolder(const std::string& study_id) const {
    if (study_id.empty() || study_id.front() == '.' || study_id.find('/') != std::string::npos || study_id == "..")
      return std::nullopt;
    const fs::path folder = outdir / "studies" / study_id;
    std::error_code ec;
    if (!fs::is_regular_file(folder / "result.json", ec)) return std::nullopt;
    return folder;
  }

  static StudyResult ReadResult(const fs::path& folder) {
    return json::parse(ReadFile(folder / "result.json")).get<StudyResult>();
  }

  json AllReviews() const {
    const auto ledger = ReadReviews(outdir);
    json studies = json::object();
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(outdir / "studies", ec)) {
      const std::string id = entry.path().filename().string();
      const auto folder = StudyFolder(id);
      if (!folder) continue;
      try {
        studies[id] = ReviewJson(ReviewOf(*folder, ReadResult(*folder), ledger));
      } catch (const std::exception& error) {
        studies[id] = {{"error", error.what()}};
      }
    }
    return {{"organization", options.organization}, {"studies", studies}};
  }

  void GetReview(const httplib::Request& request, httplib::Response& response) const {
    if (!request.has_param("study")) return Answer(response, 200, AllReviews());
    const auto folder = StudyFolder(request.get_param_value("study"));
    if (!folder) return Answer(response, 404, {{"error", "no such study in this batch"}});
    Answer(response, 200, {{"organization", options.organization},
                           {"review", ReviewJson(ReviewOf(*folder, ReadResult(*folder), ReadReviews(outdir)))}});
  }

  // Another site's page can send a simple POST with the reviewer's cookie; it cannot add this header
  // without a CORS preflight, which this server never answers, nor forge Origin.
  bool SameOrigin(const httplib::Request& request) const {
    if (request.get_header_value("X-Medpipe-Review") != "1") return false;
    const std::string origin = request.get_header_value("Origin");
    return origin.empty() || origin == "http://" + request.get_header_value("Host");
  }

  void PostReview(const httplib::Request& request, httplib::Response& response) {
    if (!SameOrigin(request)) return Answer(response, 403, {{"error", "cross-origin sign-off refused"}});
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object()) return Answer(response, 400, {{"error", "the body is not a JSON object"}});
    const auto text = [&](const char* key) {
      const auto it = body.find(key);
      return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const auto signoff = SignoffNamed(text("decision"));
    if (!signoff) return Answer(response, 400, {{"error", "decision is '" + text("decision") + "'; expected accept, reject or comment"}});
    ReviewEntry entry{text("study_id"), text("analysis"), *signoff, text("reviewer"), options.organization,
                      text("comment"), "", ""};
    if (entry.reviewer.empty() || entry.reviewer.size() > kMaxReviewer || !IsPlainText(entry.reviewer, false))
      return Answer(response, 400, {{"error", "reviewer: a name of 1 to 128 characters on one line is needed"}});
    // The name becomes the verified SR's VerifyingObserverName: refused here, not when sending.
    if (DcmPersonName::checkStringValue(entry.reviewer.c_str(), "1").bad())
      return Answer(response, 400, {{"error", "reviewer: not a DICOM person name (at most 64 characters a group, "
                                              "no backslash, at most two '=')"}});
    if (entry.comment.size() > kMaxComment || !IsPlainText(entry.comment, true))
      return Answer(response, 400, {{"error", "comment: at most 4000 characters of text"}});
    if (*signoff == Signoff::Comment && entry.comment.empty())
      return Answer(response, 400, {{"error", "comment: empty; write one, or accept or reject"}});
    const auto folder = StudyFolder(entry.study_id);
    if (!folder) return Answer(response, 404, {{"error", "no such study in this batch"}});

    const std::lock_guard<std::mutex> lock(ledger_mutex);
    const StudyResult result = ReadResult(*folder);
    const StudyReview now = ReviewOf(*folder, result, {});
    if (entry.analysis.empty()) {
      entry.sha256 = now.study.sha256;
    } else {
      const auto target = now.analyses.find(entry.analysis);
      if (target == now.analyses.end()) return Answer(response, 404, {{"error", "no such analysis in this study"}});
      entry.sha256 = target->second.sha256;
    }
    if (text("sha256") != entry.sha256)
      return Answer(response, 409, {{"error", "this result changed since the page was loaded: reload it and review again"},
                                    {"sha256", entry.sha256}});
    entry.time = UtcTimestamp();
    AppendReview(outdir, entry);
    Log(LogLevel::Info, "study " + entry.study_id + (entry.analysis.empty() ? "" : " " + entry.analysis) + ": " +
                            SignoffName(entry.signoff) + " recorded");
    Answer(response, 200, {{"entry", EntryJson(entry)}, {"review", ReviewJson(ReviewOf(*folder, result, ReadReviews(outdir)))}});
  }

  void GetFile(const httplib::Request& request, httplib::Response& response) const {
    if (request.path == "/") {
      response.set_redirect("/report.html");
      return;
    }
    const fs::path file = FileOf(request.path);
    if (file.empty()) {
      response.status = 404;
      response.set_content("not found in this batch\n", "text/plain");
      return;
    }
    response.set_content(ReadFile(file), ContentType(file));
  }

  // The token in the query (which sets the cookie, then the URL without it) or the cookie.
  httplib::Server::HandlerResponse Authorise(const httplib::Request& request, httplib::Response& response) const {
    if (request.has_param("token") && SameToken(request.get_param_value("token"), options.token)) {
      response.set_header("Set-Cookie", cookie + "=" + options.token + "; Path=/; HttpOnly; SameSite=Strict");
      response.set_redirect(request.path);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (SameToken(CookieValue(request.get_header_value("Cookie"), cookie), options.token))
      return httplib::Server::HandlerResponse::Unhandled;
    response.status = 403;
    response.set_content("medpipe review: open the address with the token that `medpipe review` printed\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  }
};

ReviewServer::ReviewServer(const fs::path& outdir, ServerOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  std::error_code ec;
  impl.outdir = fs::canonical(outdir, ec);
  if (ec || !fs::is_directory(impl.outdir)) throw IoError(outdir.string(), "is not a batch output folder");
  if (!fs::is_regular_file(impl.outdir / "report.html"))
    throw IoError((outdir / "report.html").string(), "is missing: run `medpipe report` on the folder first");
  if (!IsLoopback(options.host) && !options.allow_non_loopback)
    throw ConfigError("--bind", "'" + options.host + "' is not a loopback address; name it with --bind to serve others");
  if (options.token.empty()) options.token = RandomToken();
  impl.options = std::move(options);

  httplib::Server& server = impl.server;
  server.set_payload_max_length(kMaxBody);
  server.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                              {"Referrer-Policy", "no-referrer"},
                              {"Cache-Control", "no-store"},
                              {"X-Frame-Options", "DENY"},
                              {"Content-Security-Policy", "frame-ancestors 'none'"}});
  server.set_pre_routing_handler([&impl](const httplib::Request& request, httplib::Response& response) {
    return impl.Authorise(request, response);
  });
  server.Get("/api/review", [&impl](const httplib::Request& request, httplib::Response& response) {
    impl.GetReview(request, response);
  });
  server.Post("/api/review", [&impl](const httplib::Request& request, httplib::Response& response) {
    impl.PostReview(request, response);
  });
  server.Get(".*", [&impl](const httplib::Request& request, httplib::Response& response) { impl.GetFile(request, response); });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
    std::string reason = "unknown error";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& exception) {
      reason = exception.what();
    }
    Log(LogLevel::Error, "review server: " + reason);
    Answer(response, 500, {{"error", reason}});
  });

  impl.port = impl.options.port ? (server.bind_to_port(impl.options.host.c_str(), impl.options.port) ? impl.options.port : -1)
                                : server.bind_to_any_port(impl.options.host.c_str());
  if (impl.port <= 0)
    throw NetworkError(impl.options.host + ":" + std::to_string(impl.options.port), "cannot listen there (in use?)", false);
  impl.cookie = "medpipe_review_" + std::to_string(impl.port);
}

ReviewServer::~ReviewServer() { Stop(); }

uint16_t ReviewServer::Port() const { return static_cast<uint16_t>(impl_->port); }

const std::string& ReviewServer::Token() const { return impl_->options.token; }

std::string ReviewServer::Url() const {
  const std::string& host = impl_->options.host;
  const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "http://" + shown + ":" + std::to_string(Port()) + "/report.html?token=" + Token();
}

void ReviewServer::Serve() { impl_->server.listen_after_bind(); }

void ReviewServer::Stop() { impl_->server.stop(); }

}  // namespace medpipe::review
