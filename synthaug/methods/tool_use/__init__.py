"""Tool-use and function-calling data: queries answered by tool calls, every call executed in
the sandbox and checked (tools from ``synthaug.tools``)."""
