#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/option_errors.h"
#include "medpipe/core/error.h"
#include "medpipe/synth/synthetic_study.h"

namespace po = boost::program_options;

namespace medpipe::cli {
namespace {

synth::Encoding ParseEncoding(const std::string& name) {
  static const std::map<std::string, synth::Encoding> encodings = {{"explicit", synth::Encoding::ExplicitLittle},
                                                                   {"jpeg-ls", synth::Encoding::JpegLsLossless},
                                                                   {"jpeg2000", synth::Encoding::Jpeg2000Lossless}};
  const auto found = encodings.find(name);
  if (found == encodings.end()) throw ConfigError("--encoding", "is '" + name + "'; expected one of explicit, jpeg-ls, jpeg2000");
  return found->second;
}

// "512x512x300" and "0.7,0.7,1.0" into the spec.
synth::VolumeSpec ParseCtSpec(const std::string& size, const std::string& spacing, const std::string& encoding) {
  synth::VolumeSpec spec;
  char tail = 0;
  if (std::sscanf(size.c_str(), "%dx%dx%d%c", &spec.columns, &spec.rows, &spec.slices, &tail) != 3 ||
      std::min({spec.columns, spec.rows, spec.slices}) < 1)
    throw ConfigError("--ct", "is '" + size + "'; expected COLUMNSxROWSxSLICES, each at least 1, such as 512x512x300");
  const auto& mm = spec.spacing_mm;
  if (std::sscanf(spacing.c_str(), "%lf,%lf,%lf%c", &spec.spacing_mm[0], &spec.spacing_mm[1], &spec.spacing_mm[2],
                  &tail) != 3 ||
      !(mm[0] > 0 && mm[1] > 0 && mm[2] > 0))
    throw ConfigError("--spacing", "is '" + spacing + "'; expected X,Y,Z in mm, each above 0, such as 0.7,0.7,1.0");
  spec.encoding = ParseEncoding(encoding);
  return spec;
}

}  // namespace

int SynthCommand(const std::vector<std::string>& args) {
  po::options_description options("synth options");
  options.add_options()
      ("outdir", po::value<std::string>()->required(), "folder to write into")
      ("ct", po::value<std::string>(), "instead of the demo set, one CT of COLUMNSxROWSxSLICES in OUTDIR/ct")
      ("spacing", po::value<std::string>()->default_value("0.7,0.7,1.0"), "with --ct: voxel spacing X,Y,Z in mm")
      ("encoding", po::value<std::string>()->default_value("explicit"), "with --ct: explicit, jpeg-ls or jpeg2000 (lossless)")
      ("seed", po::value<uint32_t>()->default_value(1), "with --ct: noise and UIDs; another seed is another study");
  po::positional_options_description positional;
  positional.add("outdir", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe synth OUTDIR [--ct 512x512x300 --encoding jpeg-ls]", options, positional,
                        vm, exit_code))
    return exit_code;
  const std::string outdir = vm["outdir"].as<std::string>();
  if (vm.count("ct")) {
    const auto spec =
        ParseCtSpec(vm["ct"].as<std::string>(), vm["spacing"].as<std::string>(), vm["encoding"].as<std::string>());
    std::cout << "wrote " << synth::WriteSyntheticCt(outdir, spec, vm["seed"].as<uint32_t>()).string() << "\n";
  } else {
    synth::WriteDemoStudies(outdir);
    std::cout << "wrote demo studies to " << outdir << "\n";
  }
  return kExitOk;
}

}  // namespace medpipe::cli
