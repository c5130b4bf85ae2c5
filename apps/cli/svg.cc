#include "svg.h"

#include "base/atomic_file.h"

namespace logitkit::cli {

std::string Xml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

Status WriteText(const std::string& path, const std::string& text) { return base::WriteFileAtomically(path, text); }

}  // namespace logitkit::cli
