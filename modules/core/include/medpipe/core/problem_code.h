#pragma once
// The one table of what medpipe can find wrong with (or assume about) a series: each code's name as
// result.json, the index and the sidecar write it, what it does to the series, its error kind, what it
// means and how to fix it. The enum, the parsing of recorded problems and docs/problem-codes.md (made
// by `medpipe codes`, checked by a test) all come from it.
#include <optional>
#include <string>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/core/study_result.h"

namespace medpipe {

enum class ProblemCode {
  UnevenSliceSpacing,
  GantryTilt,
  MissingSlices,
  NotAVolume,
  Localizer,
  SecondaryCapture,
  NonImage,
  AssumedGeometry,
  FourDSeries,
  PrivateDiffusionTags,
  EchoOrComponentSplit,
  PhilipsFloatScaling,
};

// What a problem does to its series.
enum class ProblemEffect {
  Handled,   // the series loads; the problem says what was assumed or corrected
  LeftOut,   // the series is left out by design (Disposition::SkippedByDesign)
  Refused,   // the series is not loaded (Disposition::Refused)
};

struct ProblemCodeInfo {
  ProblemCode code;
  const char* name;     // as recorded: "uneven_slice_spacing"
  ProblemEffect effect;
  ErrorKind kind;
  const char* meaning;  // one line
  const char* fix;      // what a user can do
};

const std::vector<ProblemCodeInfo>& ProblemCodes();
const ProblemCodeInfo& InfoOf(ProblemCode code);
std::optional<ProblemCode> ProblemCodeNamed(const std::string& name);

// "code: detail", as the index records a problem.
std::string ProblemText(ProblemCode code, const std::string& detail);

// How a series was taken: accepted when it LOADED; otherwise left out by design when a problem says so
// (a localizer, ...), else refused (a problem refused it, or it failed to decode).
Disposition DispositionOf(bool loaded, const std::vector<Problem>& problems);

// The failure of a series that REFUSAL (a recorded "code: detail" problem) stops from loading; WHERE
// is the series' first file.
Failure RefusalFailure(const std::string& refusal, const std::string& where);

// The table as a Markdown document (docs/problem-codes.md).
std::string ProblemCodesMarkdown();

}  // namespace medpipe
