# Reads an INI file with Python's own configparser and prints {section: {key: value}} as JSON, so the ini tests
# can compare bk's reader with the reference. argv: <file> <none|basic> [TRACKER_HOME]
import configparser
import json
import sys

path, mode = sys.argv[1], sys.argv[2]
if mode == 'basic':
    home = sys.argv[3]
    parser = configparser.ConfigParser(defaults={'HOME': home, 'TRACKER_HOME': home})
else:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
with open(path, encoding='utf-8') as f:
    parser.read_file(f)
out = {}
for section in parser.sections():
    out[section] = {key: parser.get(section, key) for key in parser.options(section)}
print(json.dumps(out))
