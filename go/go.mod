module jobdb

go 1.19
