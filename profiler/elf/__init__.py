"""The one ELF reader: headers, notes, build id, program headers, the address rule, symbols."""
