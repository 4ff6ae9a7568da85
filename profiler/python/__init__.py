"""CPython frames in profiles, read from outside the process (no ptrace stop, no agent inside).

The kernel side (:mod:`profiler.bpf.python_walk`) walks a sampled thread's frame chain and sends
code-object pointers and instruction offsets; this package finds interpreters in processes
(:mod:`.interpreter`, :mod:`.layouts`), keeps the thread map the walk starts from
(:mod:`.threads`), names code objects (:mod:`.code_objects`, :mod:`.line_table`,
:mod:`.stack_names`), and merges the Python frames into native stacks (:mod:`.merge`).
:mod:`.tracker` ties them to a session (:mod:`profiler.session.python` starts it). Every
reader of a target's memory raises one documented error, a
:class:`~profiler.elf.errors.FormatError` (:mod:`.errors`).
"""
