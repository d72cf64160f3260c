module trackjobs

go 1.19

require jobdb v0.0.0

replace jobdb => ../../go
