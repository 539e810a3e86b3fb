"""The fill pipeline: layout and value conversion, planning, crops, lazy fills, estimates."""
