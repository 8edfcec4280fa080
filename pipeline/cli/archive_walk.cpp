#include "cli/archive_walk.h"

#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/option_errors.h"
#include "isolation/header_pass_process.h"
#include "medpipe/core/cores.h"
#include "medpipe/core/error.h"

namespace po = boost::program_options;

namespace medpipe::cli {

void AddArchiveOptions(po::options_description& options) {
  options.add_options()
      ("config", po::value<std::string>(), "INI file of option defaults (name = value; the command line wins), e.g. configs/*.ini")
      ("print-config", po::bool_switch(), "print the effective options as an INI file and exit")
      ("threads", po::value<unsigned>()->default_value(0), "header-scan threads (0: one per core)")
      ("max-image-gib", po::value<double>()->default_value(4.0), "refuse files whose declared pixels exceed this")
      ("refuse-gantry-tilt", po::bool_switch(), "refuse tilted series instead of resampling them")
      ("philips-scaling", po::value<std::string>()->default_value("display"),
       "Philips voxels: display (stored x RescaleSlope + intercept, DICOM's) or float (stored / (2005,100E) ScaleSlope, dcm2niix's)")
      ("decode-timeout", po::value<double>()->default_value(600),
       "seconds a series may take to decode, or one file's header to read, before it is failed; 0: no limit")
      ("max-decode-gib", po::value<double>()->default_value(0),
       "memory a process decoding one series or reading headers may add (GiB); 0: 4 x --max-image-gib + 2");
}

namespace {

double MaxImageGib(const po::variables_map& vm) {
  const double gib = vm["max-image-gib"].as<double>();
  if (!(gib > 0)) throw OptionError("--max-image-gib", gib, "more than 0 GiB (the largest pixel data a file may declare)");
  return gib;
}

}  // namespace

dicom::ArchiveIndex IndexArchive(const po::variables_map& vm) {
  dicom::ScanOptions scan;
  scan.threads = vm["threads"].as<unsigned>();
  scan.limits.max_pixel_bytes = static_cast<uint64_t>(MaxImageGib(vm) * (uint64_t{1} << 30));
  scan.header_pass = IsolatedHeaderPass(scan.threads ? scan.threads : UsableCores(), DecodeLimitsOf(vm));
  dicom::IndexOptions index;
  index.refuse_gantry_tilt = vm["refuse-gantry-tilt"].as<bool>();
  const std::string scaling = vm["philips-scaling"].as<std::string>();
  if (scaling != "display" && scaling != "float") throw OptionError("--philips-scaling", scaling, "display or float");
  index.philips_float = scaling == "float";
  return dicom::BuildIndex(dicom::ScanArchive(vm["archive"].as<std::string>(), scan), index);
}

DecodeLimits DecodeLimitsOf(const po::variables_map& vm) {
  const double timeout_s = AtLeast("--decode-timeout", vm["decode-timeout"].as<double>(), 0.0, " seconds (0: no limit)");
  const double max_gib =
      AtLeast("--max-decode-gib", vm["max-decode-gib"].as<double>(), 0.0, " GiB (0: 4 x --max-image-gib + 2)");
  // Decoded floats take up to twice the declared pixels, and the files' own bytes come on top.
  const double gib = max_gib > 0 ? max_gib : 4 * MaxImageGib(vm) + 2;
  return {timeout_s, static_cast<uint64_t>(gib * (uint64_t{1} << 30))};
}

namespace {

// One option's value as INI text; empty for types no option uses.
std::string ValueText(const boost::any& value) {
  if (const auto* text = boost::any_cast<std::string>(&value)) return *text;
  if (const auto* flag = boost::any_cast<bool>(&value)) return *flag ? "true" : "false";
  if (const auto* number = boost::any_cast<double>(&value)) return std::to_string(*number);
  if (const auto* count = boost::any_cast<int64_t>(&value)) return std::to_string(*count);
  if (const auto* count = boost::any_cast<unsigned>(&value)) return std::to_string(*count);
  return "";
}

void PrintConfig(const po::variables_map& vm) {
  for (const auto& [name, value] : vm) {
    if (name == "print-config" || name == "config" || name == "help") continue;
    if (const auto* list = boost::any_cast<std::vector<std::string>>(&value.value())) {
      for (const auto& item : *list) std::cout << name << " = " << item << "\n";
    } else {
      std::cout << name << " = " << ValueText(value.value()) << (value.defaulted() ? "  # default" : "") << "\n";
    }
  }
}

}  // namespace

bool ParseCommandLine(const std::vector<std::string>& args, const std::string& usage, po::options_description& options,
                      const po::positional_options_description& positional, po::variables_map& vm, int& exit_code) {
  options.add_options()("help,h", "show this help");
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << usage << "\n" << options << "\n";
      exit_code = kExitOk;
      return false;
    }
    // Stored after the command line, so the command line wins.
    if (vm.count("config")) {
      const std::string file = vm["config"].as<std::string>();
      std::ifstream in(file);
      if (!in)
        throw ConfigError("--config", "is '" + file + "', which cannot be read; expected an INI file such as configs/*.ini");
      po::store(po::parse_config_file(in, options), vm);
    }
    po::notify(vm);
    if (vm.count("print-config") && vm["print-config"].as<bool>()) {
      PrintConfig(vm);
      exit_code = kExitOk;
      return false;
    }
  } catch (const po::error& error) {
    std::cerr << "medpipe: " << error.what() << "\n" << usage << "\n" << options << "\n";
    exit_code = kExitUsage;
    return false;
  }
  return true;
}

bool ParseArchiveToOutdir(const std::vector<std::string>& args, const std::string& name, const std::string& outdir_help,
                          const std::filesystem::path& output_subdir, po::variables_map& vm, int& exit_code,
                          const po::options_description* extra) {
  po::options_description options(name + " options");
  options.add_options()
      ("archive", po::value<std::string>()->required(), "folder, file or DICOMDIR to read")
      ("outdir", po::value<std::string>()->required(), outdir_help.c_str());
  AddArchiveOptions(options);
  if (extra) options.add(*extra);
  po::positional_options_description positional;
  positional.add("archive", 1).add("outdir", 1);
  if (!ParseCommandLine(args, "usage: medpipe " + name + " ARCHIVE OUTDIR", options, positional, vm, exit_code)) {
    return false;
  }
  const std::filesystem::path folder = std::filesystem::path(vm["outdir"].as<std::string>()) / output_subdir;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw IoError(folder.string(), "cannot create output folder: " + ec.message());
  return true;
}


}  // namespace medpipe::cli
