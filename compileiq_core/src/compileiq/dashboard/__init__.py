"""`compileiq dashboard`: a local web view of the runs in a cache folder, live while they run.

Standard library only (an HTTP server, JSON endpoints, one static page that draws its plots as
SVG in the browser). Journals are read read-only and incrementally; see `reader` and `server`.
Nothing here is imported by `import compileiq`.
"""

from compileiq.dashboard.reader import RunsReader
from compileiq.dashboard.server import DashboardServer, make_server, serve

__all__ = ["DashboardServer", "RunsReader", "make_server", "serve"]
