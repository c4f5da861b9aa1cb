"""Print each benchmark's ``extra_info`` (derived figures such as samples/s) after the table."""


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    rows = [(b.name, b.extra_info) for b in getattr(session, "benchmarks", []) if b.extra_info]
    if not rows:
        return
    terminalreporter.section("derived figures")
    for name, info in rows:
        figures = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in info.items())
        terminalreporter.write_line(f"{name}: {figures}")
