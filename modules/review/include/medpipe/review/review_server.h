#pragma once
// `medpipe review OUT`: the batch's pages over HTTP with sign-off. Serves the files under OUT read-only
// (nothing outside it, no hidden or staging folder, no link leading out), and a small JSON API the
// pages use when they find themselves served: GET /api/review[?study=ID] (states and history, as
// study_review.h computes them now) and POST /api/review (one ReviewEntry, appended to
// OUT/review.jsonl with the server's time and the digest of the result as it is now). Every request
// needs the session token: once in the URL (?token=...), which sets a SameSite=Strict, HttpOnly cookie
// the pages' later requests carry; a POST also needs the X-Medpipe-Review header and a same-origin
// Origin, so another site's page cannot sign off in a reviewer's browser.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace medpipe::review {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;               // 0: any free port
  bool allow_non_loopback = false;  // `--bind` given: HOST may be an address others reach
  std::string organization = "medpipe review";  // the verifying organisation recorded with each decision
  std::string token;               // empty: a new random one
};

class ReviewServer {
 public:
  // Binds (throws ConfigError naming "--bind" for a non-loopback HOST not allowed, NetworkError when
  // the address cannot be bound) but serves nothing until Serve().
  ReviewServer(const std::filesystem::path& outdir, ServerOptions options);
  ~ReviewServer();

  uint16_t Port() const;
  const std::string& Token() const;
  // "http://HOST:PORT/report.html?token=TOKEN".
  std::string Url() const;
  // Serves until Stop() (from another thread or a signal handler's thread).
  void Serve();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopback(const std::string& host);

}  // namespace medpipe::review
