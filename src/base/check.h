// Internal invariant checks. A failed check is a bug in logitkit, never a
// consequence of user input (that gets a Status), and aborts through one handler.
#ifndef LOGITKIT_BASE_CHECK_H_
#define LOGITKIT_BASE_CHECK_H_

namespace logitkit::base {

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace logitkit::base

#define LK_CHECK(cond) \
  ((cond) ? (void)0 : ::logitkit::base::CheckFailed(__FILE__, __LINE__, #cond))

#ifdef NDEBUG
#define LK_DCHECK(cond) ((void)0)
#else
#define LK_DCHECK(cond) LK_CHECK(cond)
#endif

#endif  // LOGITKIT_BASE_CHECK_H_
