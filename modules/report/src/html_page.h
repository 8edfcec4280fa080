#pragma once
// HTML building blocks of the report pages.
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

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

// A complete document: TITLE, BODY (HTML), the shared style sheet and the table-sorting script.
std::string Page(const std::string& title, const std::string& body);

}  // namespace medpipe::report
