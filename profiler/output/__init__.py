"""The output side: the collected profile and every format rendered from it.

Every file format renders from one ``pprof_encoder`` profile, with the profile's title and one
frame classifier and palette shared by all. Nothing heavy is imported here: ``python -m profiler``
loads a renderer only when it writes its format. Modules: :mod:`.collected` (the collected
profile), :mod:`.pprof` (it as pprof and OTLP), :mod:`.title` (what the profile is of),
:mod:`.frame_kinds` (kernel / native / python / jit / async), :mod:`.palette`,
:mod:`.call_tree` (stacks aggregated into a tree), :mod:`.html_flamegraph`,
:mod:`.svg_flamegraph`, :mod:`.speedscope`, :mod:`.off_cpu` (off-CPU sample types, comments and
OTLP parts), :mod:`.wall_view` (per thread: CPU + off-CPU), and :mod:`.formats` (names, file
extensions and one ``render`` for them all).
"""
