module github.com/scriptrunner/scriptrunner

go 1.26.8

require (
	github.com/google/flatbuffers v25.12.19+incompatible
	github.com/valyala/bytebufferpool v1.0.0
	go.uber.org/zap v1.28.0
)

require (
	github.com/stretchr/testify v1.8.4 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)
