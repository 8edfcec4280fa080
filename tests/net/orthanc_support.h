#pragma once
// A real PACS for the network tests: Orthanc (Debian package `orthanc`) on loopback ports of its own,
// with a fresh database, queried over its REST API with curl.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "pipeline/cli_support.h"
#include "test_support.h"

namespace medpipe::testing {

// A TCP port free on loopback now (bound to port 0 and released).
inline uint16_t FreePort() {
  const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(probe);
  return ntohs(address.sin_port);
}

// tests/net/cutting_proxy.py on LISTEN_PORT to TARGET_PORT: the first connection to carry BYTES in
// DIRECTION ("to_target" or "from_target") is closed there. Returns once it accepts connections.
inline pid_t StartCuttingProxy(uint16_t listen_port, uint16_t target_port, size_t bytes, const std::string& direction,
                               const std::filesystem::path& log) {
  const pid_t pid = StartProcess({"/usr/bin/python3", MEDPIPE_SOURCE_DIR "/tests/net/cutting_proxy.py", std::to_string(listen_port),
                                  std::to_string(target_port), std::to_string(bytes), direction},
                                 log);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return pid;
}

// Sends SIGNAL to PID and returns its exit code (128 + signal when a signal ended it).
inline int StopProcess(pid_t pid, int signal = SIGTERM) {
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Resident memory of process PID in MiB (/proc/PID/statm).
inline uint64_t ResidentMib(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t mapped = 0, resident = 0;
  statm >> mapped >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGE_SIZE)) >> 20;
}

// Polls CONDITION every 200 ms for up to SECONDS.
template <typename Condition>
bool WaitFor(double seconds, const Condition& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return condition();
}

class Orthanc {
 public:
  static bool Installed() { return std::filesystem::exists("/usr/sbin/Orthanc"); }

  // Medpipe is known to it as MEDPIPE at 127.0.0.1:MOVE_PORT (the C-MOVE destination).
  Orthanc(const std::filesystem::path& dir, uint16_t move_port) : dir_(dir), dicom_port_(FreePort()), http_port_(FreePort()) {
    std::filesystem::create_directories(dir / "db");
    const nlohmann::json config = {{"Name", "medpipe-test"},
                                   {"StorageDirectory", (dir / "db").string()},
                                   {"IndexDirectory", (dir / "db").string()},
                                   {"HttpPort", http_port_},
                                   {"DicomPort", dicom_port_},
                                   {"DicomAet", "ORTHANC"},
                                   {"RemoteAccessAllowed", false},
                                   {"AuthenticationEnabled", false},
                                   {"DicomModalities", {{"medpipe", {"MEDPIPE", "127.0.0.1", move_port}}}},
                                   {"Plugins", nlohmann::json::array()}};
    std::ofstream(dir / "orthanc.json") << config.dump(2);
    pid_ = StartProcess({"/usr/sbin/Orthanc", (dir / "orthanc.json").string()}, dir / "orthanc.log");
    const bool up = WaitFor(30, [&] { return Shell(Curl("/system"), dir_ / "curl.log").exit_code == 0; });
    EXPECT_TRUE(up) << "Orthanc did not start: " << ReadFile(dir / "orthanc.log");
  }
  ~Orthanc() { StopProcess(pid_); }

  std::string DicomAddress() const { return "127.0.0.1:" + std::to_string(dicom_port_); }

  // C-STORE of every file under FOLDER (storescu, as a modality would).
  void Upload(const std::filesystem::path& folder) const {
    const auto sent = Shell("storescu -aet MODALITY -aec ORTHANC +sd +r 127.0.0.1 " + std::to_string(dicom_port_) + " " + folder.string(),
                            dir_ / "storescu.log");
    ASSERT_EQ(sent.exit_code, 0) << sent.output;
  }

  // Modality -> instance count, over the series Orthanc holds for study STUDY_UID.
  std::map<std::string, int> SeriesOf(const std::string& study_uid) const {
    const auto found = Json(Curl("/tools/find") + " -d '{\"Level\":\"Study\",\"Query\":{\"StudyInstanceUID\":\"" + study_uid + "\"}}'");
    std::map<std::string, int> series;
    for (const auto& study : found)
      for (const auto& one : Json(Curl("/studies/" + study.get<std::string>() + "/series")))
        series[one["MainDicomTags"].value("Modality", "")] += static_cast<int>(one["Instances"].size());
    return series;
  }

  // The simplified tags of the first instance of MODALITY that Orthanc holds for study STUDY_UID (null when none).
  nlohmann::json TagsOf(const std::string& study_uid, const std::string& modality) const {
    const auto found = Json(Curl("/tools/find") + " -d '{\"Level\":\"Study\",\"Query\":{\"StudyInstanceUID\":\"" + study_uid + "\"}}'");
    for (const auto& study : found)
      for (const auto& one : Json(Curl("/studies/" + study.get<std::string>() + "/series")))
        if (one["MainDicomTags"].value("Modality", "") == modality && !one["Instances"].empty())
          return Json(Curl("/instances/" + one["Instances"][0].get<std::string>() + "/simplified-tags"));
    return nullptr;
  }

 private:
  std::string Curl(const std::string& path) const { return "curl -sf http://127.0.0.1:" + std::to_string(http_port_) + path; }
  nlohmann::json Json(const std::string& command) const {
    const auto answer = Shell(command + " 2>/dev/null", dir_ / "curl.json");
    return nlohmann::json::parse(answer.output, nullptr, false);
  }

  std::filesystem::path dir_;
  uint16_t dicom_port_, http_port_;
  pid_t pid_ = -1;
};

}  // namespace medpipe::testing
