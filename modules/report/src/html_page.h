#pragma once
// HTML building blocks of the report pages.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "study_results.h"

namespace medpipe::report {

// TEXT with & < > " ' as character references, safe in element content and quoted attributes.
std::string Escape(std::string_view text);

// A relative path for href/src: bytes other than unreserved ones and '/' percent-encoded.
std::string UrlPath(std::string_view path);

// "lesion 12.40 mL", "pneumonia 0.83", or "not pneumonia (pneumonia 0.12)".
std::string FindingText(const Finding& finding);

// VALUE as nested tables: objects as key/value rows, arrays of objects with a column per key.
std::string JsonHtml(const nlohmann::json& value);
// JsonHtml folded away under "raw details".
std::string RawDetails(const nlohmann::json& value);

// A volume to three significant digits, no more than a voxel's worth: "1.55 mL", "65.4 mL", "1234 mL".
std::string VolumeText(double ml);

// What a page runs besides the table sorter: script files by relative URL, in order, then one inline
// script. The inline script is allowed by its hash; the files by 'self', the one way a page opened
// from file:// can allow them (browsers refuse integrity checks, and so hashes, on file:// scripts).
struct PageScripts {
  std::vector<std::string> files;
  std::string inline_script;
};

// A complete document: TITLE, BODY (HTML), the shared style sheet, the table-sorting script and SCRIPTS.
std::string Page(const std::string& title, const std::string& body, const PageScripts& scripts = {});

}  // namespace medpipe::report
