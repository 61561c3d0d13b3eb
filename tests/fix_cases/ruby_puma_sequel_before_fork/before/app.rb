require "sinatra/base"
require_relative "db"

class Shop < Sinatra::Base
  get "/products" do
    DB[:products].all.to_json
  end
end
