std = "lua54"
max_line_length = 100
ignore = { "212/_.*" }
exclude_files = { "vendor/", "build/" }
