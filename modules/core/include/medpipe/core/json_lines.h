#pragma once
// Ledgers kept as JSON lines (the run's manifest, the record of results sent to a PACS): one record
// per line, appended whole and synced, so a crash can tear at most the last line, which readers skip.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace medpipe {

// Appends RECORD as one line in a single write and syncs it: concurrent writers never interleave
// within a line. Throws IoError naming PATH.
void AppendJsonLine(const std::filesystem::path& path, const nlohmann::json& record);

// The object records of every FOLDER/PREFIX*.jsonl (shards write one file each), file by file in
// name order, line by line; lines that do not parse (torn by a crash) are skipped.
std::vector<nlohmann::json> ReadJsonLines(const std::filesystem::path& folder, const std::string& prefix);

}  // namespace medpipe
